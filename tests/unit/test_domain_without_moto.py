"""The domain unit tests run on the in-memory repository alone: moto is never imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_TESTS = ["tests/unit/test_domain_budgets.py", "tests/unit/test_domain_ingest.py",
                "tests/unit/test_domain_aggregation.py"]
PROGRAM = """
import sys, pytest
code = pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:randomly", *sys.argv[1:]])
loaded = sorted(m for m in sys.modules if m == "moto" or m.startswith("moto."))
print("MOTO MODULES:", loaded)
sys.exit(int(code) or (3 if loaded else 0))
"""


def test_budgets_ingest_and_aggregation_tests_pass_without_importing_moto():
    run = subprocess.run([sys.executable, "-c", PROGRAM, *DOMAIN_TESTS], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert "MOTO MODULES: []" in run.stdout, run.stdout[-3000:]
    assert run.returncode == 0 and " passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
