"""The Lambda asset: Docker-free, built for linux/arm64 CPython 3.13, small, and only what the handlers import."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from infra import bundling

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
LIMIT_BYTES = 30 * 1000 * 1000  # 30 MB unzipped (SPEC 12), counted in decimal megabytes to be strict
ELF_MACHINE_AARCH64 = 183
RUNTIME_PROVIDED = {"boto3", "botocore"}  # the Lambda Python runtime ships them
FIRST_PARTY = set(bundling.SOURCE_PACKAGES)


def _requirements() -> dict[str, str]:
    """name -> pinned version, from infra/lambda-requirements.txt."""
    pins = {}
    for line in bundling.REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?==([^\s;]+)", line)
            assert match, f"unpinned requirement: {line}"
            pins[match.group(1)] = match.group(3)
    return pins


def _import_names(distribution: str) -> set[str]:
    mapping = importlib.metadata.packages_distributions()
    canonical = re.sub(r"[-_.]+", "-", distribution).lower()
    return {module for module, dists in mapping.items()
            if any(re.sub(r"[-_.]+", "-", d).lower() == canonical for d in dists)}


def _handler_imports() -> set[str]:
    """Top-level names of every module imported anywhere in shared/ and functions/ (also inside functions)."""
    names = set()
    for path in bundling.source_files():
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_requirements_are_pinned_and_agree_with_the_project_lock():
    pins = _requirements()
    assert set(pins) == {"aws-lambda-powertools", "pydantic", "genai-prices", "pyjwt"}
    lock = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            lock[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    for name, version in pins.items():
        assert lock.get(re.sub(r"[-_.]+", "-", name).lower(), version) == version, name


def test_every_requirement_is_imported_by_the_handlers_and_every_import_is_provided():
    imported = _handler_imports()
    provided: set[str] = set()
    for name in _requirements():
        modules = _import_names(name)
        assert modules, f"{name} is not installed in this environment"
        assert modules & imported, f"{name} ({sorted(modules)}) is bundled but no handler imports it"
        provided |= modules
    third_party = {n for n in imported if n not in sys.stdlib_module_names and n not in FIRST_PARTY
                   and n != "__future__"}
    missing = third_party - provided - RUNTIME_PROVIDED
    assert not missing, f"handlers import {sorted(missing)}: add them to {bundling.REQUIREMENTS.name}"
    assert not set(_requirements()) & {"boto3", "botocore", "typer", "rich", "moto", "aws-cdk-lib", "pytest"}


def test_sources_key_changes_with_any_source_file(tmp_path):
    for package in bundling.SOURCE_PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    before = bundling.sources_key(tmp_path)
    (tmp_path / "shared" / "pycache_is_ignored.pyc").write_bytes(b"x")
    assert bundling.sources_key(tmp_path) == before
    (tmp_path / "functions" / "new_module.py").write_text("X = 1\n")
    assert bundling.sources_key(tmp_path) != before


def test_stub_asset_is_the_sources_only():
    asset = bundling.build_asset("stub")
    top = {p.name for p in asset.path.iterdir()}
    assert top == {"shared", "functions"}
    assert (asset.path / "functions" / "api" / "handler.py").is_file()
    assert (asset.path / "shared" / "table.py").read_bytes() == (ROOT / "shared" / "table.py").read_bytes()
    assert not list(asset.path.rglob("__pycache__"))


def test_real_bundle_is_arm64_py313_small_and_clean():
    started = time.monotonic()
    asset = bundling.build_asset("real")
    seconds = time.monotonic() - started
    size = bundling.tree_size(asset.path)
    print(f"\nreal Lambda asset {asset.path}: {size} bytes ({size / 1e6:.1f} MB unzipped), "
          f"built or found in {seconds:.1f} s")
    assert size < LIMIT_BYTES

    top = {p.name for p in asset.path.iterdir()}
    for forbidden in ("boto3", "botocore", "aws_cdk", "jsii", "pytest", "moto", "typer", "rich", "constructs",
                      "cdk_nag", "aiusage", "tests", "infra", "bin"):
        assert forbidden not in top, forbidden
        assert not list(asset.path.glob(f"{forbidden}-*.dist-info")), forbidden
    for needed in ("shared", "functions", "aws_lambda_powertools", "pydantic", "pydantic_core", "genai_prices",
                   "jwt", "cryptography"):
        assert needed in top, needed
    assert (asset.path / "functions" / "api" / "handler.py").is_file()
    assert (asset.path / "functions" / "authorizer" / "handler.py").is_file()
    assert not list(asset.path.rglob("*.pyc")), "no host-Python bytecode in the asset"

    extensions = list(asset.path.rglob("*.so"))
    assert extensions
    for so in extensions:
        header = so.read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, so
    (core,) = (asset.path / "pydantic_core").glob("_pydantic_core.*.so")
    assert "cpython-313-aarch64-linux-gnu" in core.name

    again = bundling.build_asset("real")
    assert again == asset  # cached: same directory, same hash
