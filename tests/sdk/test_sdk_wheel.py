"""`pip install aiusage` (issue 14): the SDK wheel built from packaging/sdk/pyproject.toml, installed
into a clean virtual environment, holds the SDK and the CLI and nothing of the server side, and
records real usage against a local `aiusage serve`.

- The wheel: only the `aiusage` package (without `aiusage.local`), no top-level `shared` or
  `functions`, and it requires typer and rich only.
- The clean venv: none of the server's distributions (Powertools, genai-prices, PyJWT, boto3,
  moto, werkzeug) got installed (pydantic only as typer's own requirement), `shared`/`functions`
  cannot be imported, and importing the SDK loads nothing outside the standard library.
- A tracked call from that venv (an explicit `record`, a `@track`ed function returning an OpenAI
  response, a `@track_requests` call) reaches the server and reads back from GET /ai_usage/events;
  its CLI lists keys and prints a report through the API, and says what is missing for `serve`.

The wheel is built without build isolation from a copy of the sources (the repository is not
written to); installing it fetches typer and rich from the package index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.e2e.conftest import ADMIN_KEY, Server, start_server

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SERVER_DISTRIBUTIONS = {"aws-lambda-powertools", "genai-prices", "pyjwt", "boto3", "botocore", "moto", "werkzeug",
                        "flask", "cryptography", "aws-xray-sdk"}
SERVER_MODULES = (
    "shared",
    "functions",
    "aiusage.local",
    "aws_lambda_powertools",
    "genai_prices",
    "jwt",
    "boto3",
    "moto",
    "werkzeug",
)
OPENAI_CHAT = json.loads((REPO / "tests" / "fixtures" / "usage-openai-chat.json").read_text())


def run(*args: Any, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def clean_env(**extra: str) -> dict[str, str]:
    """The machine's environment without anything pointing into this repository or its venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith(("AIUSAGE_", "AWS_"))}
    return {**env, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(REPO / "aiusage", source / "aiusage", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "packaging" / "sdk", source / "packaging" / "sdk",
                    ignore=shutil.ignore_patterns("build", "*.egg-info"))
    dist = tmp_path_factory.mktemp("dist")
    built = run(sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "-q", "--no-deps",
                "--no-build-isolation", "-w", dist, source / "packaging" / "sdk", cwd=source)
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = dist.glob("aiusage-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with only the wheel installed (and what it requires)."""
    root = tmp_path_factory.mktemp("venv")
    made = run(sys.executable, "-m", "venv", root / "env", cwd=root)
    assert made.returncode == 0, made.stderr
    python = root / "env" / "bin" / "python"
    started = time.monotonic()
    installed = run(python, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    "-c", REPO / "constraints.txt", wheel, cwd=root, env=clean_env())
    assert installed.returncode == 0, installed.stdout + installed.stderr
    print(f"pip install {wheel.name} into a clean venv: {time.monotonic() - started:.1f} s")
    return root / "env"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = start_server()
    yield server
    server.stop()


def test_the_wheel_is_the_sdk_and_the_cli_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"aiusage", wheel.name.split("-py3")[0] + ".dist-info"}
    assert not [n for n in names if n.startswith("aiusage/local/")]
    assert {"aiusage/cli.py", "aiusage/sdk/tracker.py", "aiusage/sdk/providers/openai.py"} <= set(names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA"))).decode()
    requires = sorted(
        line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")
    )
    assert requires == ["rich>=13", "typer>=0.12"]
    assert "Provides-Extra" not in metadata  # the server side is the repository's, not an extra of this wheel
    import tomllib

    from aiusage import __version__

    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"] == __version__
    assert f"Version: {__version__}\n" in metadata
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/entry_points.txt"))).decode()
    assert "aiusage = aiusage.cli:main" in entry_points


def test_a_clean_venv_gets_no_server_dependency_and_the_sdk_imports_only_the_standard_library(
        venv: Path, tmp_path: Path) -> None:
    listed = run(venv / "bin" / "python", "-m", "pip", "list", "--format", "json", cwd=tmp_path, env=clean_env())
    assert listed.returncode == 0, listed.stderr
    installed = {d["name"].lower().replace("_", "-") for d in json.loads(listed.stdout)}
    assert {"aiusage", "typer", "rich"} <= installed
    assert installed & SERVER_DISTRIBUTIONS == set()
    # Recent typer releases require pydantic themselves: when it is there, it is the CLI's, not the server's.
    if "pydantic" in installed:
        shown = run(venv / "bin" / "python", "-m", "pip", "show", "pydantic", cwd=tmp_path, env=clean_env())
        required_by = next(line for line in shown.stdout.splitlines() if line.startswith("Required-by:"))
        assert required_by.split(":", 1)[1].split(",") == [" typer"], required_by

    probe = run(venv / "bin" / "python", "-c", f"""
import importlib.util, json, sys
before = set(sys.modules)
import aiusage.sdk
from aiusage import UsageTracker
loaded = sorted(m for m in set(sys.modules) - before
                if m.split('.')[0] not in sys.stdlib_module_names and m.split('.')[0] != 'aiusage')
def found(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
print(json.dumps({{"outside_stdlib": loaded, "importable": [n for n in {list(SERVER_MODULES)!r} if found(n)],
                  "file": aiusage.__file__}}))
""", cwd=tmp_path, env=clean_env())
    assert probe.returncode == 0, probe.stderr
    answer = json.loads(probe.stdout)
    assert answer["outside_stdlib"] == []
    assert answer["importable"] == []
    assert answer["file"].startswith(str(venv))


def test_a_tracked_call_from_the_clean_venv_is_stored_and_read_back(venv: Path, server: Server, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(f"""
import json, sys
from aiusage import UsageTracker

tracker = UsageTracker(api_url=sys.argv[1], api_key=sys.argv[2], spool_path=sys.argv[3], flush_interval=0.2)

@tracker.track(service="openai")
def chat():
    return json.loads({json.dumps(json.dumps(OPENAI_CHAT))})

@tracker.track_requests(service="google_places", operation="text_search", requests=2)
def places():
    return {{"places": []}}

with tracker.context(job_id="wheel-job", user_id="wheel-user"):
    tracker.record(event_id="wheel-record-1", service="openai", model="gpt-4o", input_tokens=1000, output_tokens=100)
    chat()
    places()
assert tracker.flush(timeout=30), tracker.stats
print(json.dumps(tracker.stats))
tracker.close()
""")
    ran = run(venv / "bin" / "python", script, server.url, ADMIN_KEY, tmp_path / "spool.jsonl", cwd=tmp_path,
              env=clean_env(), timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    stats = json.loads(ran.stdout.strip().splitlines()[-1])
    assert stats["sent"] == 3 and stats.get("spooled", 0) == 0, stats

    status, page, _ = server.request("GET", "/ai_usage/events?" + urlencode({"job_id": "wheel-job", "limit": "10"}))
    assert status == 200, page
    events = {(e["service"], e.get("model") or e.get("operation")): e for e in page["events"]}
    assert len(page["events"]) == 3, page
    recorded = events[("openai", "gpt-4o")]
    assert recorded["event_id"] == "wheel-record-1"
    assert (recorded["input_tokens"], recorded["output_tokens"]) == (1000, 100)
    assert recorded["cost_usd"] == 0.0035 and recorded["cost_source"] == "computed"  # 1000 x 2.5 + 100 x 10 per MTok
    chat = events[("openai", OPENAI_CHAT["model"])]
    assert (chat["input_tokens"], chat["output_tokens"], chat["cache_read_tokens"]) == (1117, 46, 1024)
    assert chat["user_id"] == "wheel-user" and chat["cost_source"] == "computed"
    places = events[("google_places", "text_search")]
    assert places["requests"] == 2 and places["cost_usd"] == 0.064  # 2 x $0.032

    server.wait_aggregated()
    status, usage, _ = server.request("GET", "/ai_usage?" + urlencode({"job_id": "wheel-job"}))
    assert usage["summary"]["events"] == 3


def test_the_cli_of_the_wheel_works_through_the_api_and_explains_what_it_lacks(
        venv: Path, server: Server, tmp_path: Path) -> None:
    cli = venv / "bin" / "aiusage"
    env = clean_env(AIUSAGE_API_URL=server.url, AIUSAGE_API_KEY=ADMIN_KEY, COLUMNS="120", NO_COLOR="1")
    created = run(cli, "keys", "create", "--name", "from the wheel", "--scope", "usage:read", "--format", "json",
                  cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    listed = run(cli, "keys", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert key["key_id"] in listed.stdout and "from the wheel" in listed.stdout
    assert server.request("GET", "/ai_usage", key=key["key"])[0] == 200

    server.wait_aggregated()
    report = run(cli, "report", "--format", "json", cwd=tmp_path, env=env)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["summary"]["events"] == server.request("GET", "/ai_usage")[1]["summary"]["events"]

    serve = run(cli, "serve", "--port", "0", cwd=tmp_path, env=env, timeout=60)
    assert serve.returncode == 1 and "Traceback" not in serve.stderr
    assert "aiusage repository, not of the SDK package" in " ".join(serve.stderr.split())
    direct = run(cli, "keys", "list", "--direct", "--table", "aiusage", cwd=tmp_path, env=env, timeout=60)
    assert direct.returncode == 1 and "Traceback" not in direct.stderr
    assert "--api-url/--api-key" in " ".join(direct.stderr.split())
