"""Docker-free bundling of the ONE Lambda asset every function of the stack runs from.

The asset directory holds the runtime dependencies of `lambda-requirements.txt`,
installed by pip for the Lambda platform (Linux arm64, CPython 3.13, binary
wheels only: nothing is compiled here, so no Docker is needed), plus copies of
`shared/` and `functions/`. Nothing else: the client package (`aiusage/`), the
CDK, boto3 (the runtime has it) and test tools never reach it.

Two caches under `build/` keep repeated synths fast:
- `build/lambda-deps/<key>/`: the pip install, keyed by the requirements, the
  constraints and the pip arguments (pip runs only when they change);
- `build/lambda-asset/<mode>-<key>/`: the finished asset, keyed by that and by
  every source file, so an edit in `shared/` gives a new asset (and a new CDK
  asset hash) in milliseconds.

`mode="stub"` builds the sources only (no pip): infra tests synthesize in seconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "infra" / "lambda-requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"
SOURCE_PACKAGES = ("shared", "functions")
BUILD = ROOT / "build"
PYTHON_VERSION = "3.13"
# AL2023 (the python3.13 runtime) has glibc 2.34: manylinux2014 (glibc 2.17) wheels run there.
PIP_TARGET_ARGS = (
    "--platform", "manylinux2014_aarch64",
    "--only-binary=:all:",
    "--implementation", "cp",
    "--python-version", PYTHON_VERSION,
)
# Never in the asset: provided by the runtime, or client/infra/test tooling.
FORBIDDEN = ("boto3", "botocore", "aws_cdk", "jsii", "constructs", "cdk_nag", "pytest", "moto", "typer", "rich",
             "aiusage")
# Installed by pip but unused at run time: console scripts, and Powertools' Swagger UI
# assets (1.7 MB; the API serves /openapi.json, not the Swagger UI).
PRUNE = (
    "bin",
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui-bundle.min.js",
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui.min.css",
)
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
_BUNDLER_VERSION = "1"  # bump when the layout of the asset changes


@dataclass(frozen=True)
class Asset:
    path: Path
    hash: str
    mode: str


def source_files(root: Path = ROOT) -> list[Path]:
    """Every file of `shared/` and `functions/` that goes into the asset, sorted."""
    files = []
    for package in SOURCE_PACKAGES:
        for dirpath, dirnames, filenames in os.walk(root / package):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            files += [Path(dirpath) / f for f in filenames if not f.endswith(_SKIP_SUFFIXES)]
    return sorted(files)


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _strip_tool() -> str | None:
    """llvm-strip reads arm64 ELF on any host; GNU strip on x86 does not. Optional."""
    return shutil.which("llvm-strip")


def deps_key() -> str:
    constraints = CONSTRAINTS.read_bytes() if CONSTRAINTS.exists() else b""
    return _digest(_BUNDLER_VERSION.encode(), REQUIREMENTS.read_bytes(), constraints,
                   " ".join(PIP_TARGET_ARGS).encode(), str(bool(_strip_tool())).encode())[:20]


def sources_key(root: Path = ROOT) -> str:
    parts = []
    for path in source_files(root):
        parts.append(path.relative_to(root).as_posix().encode())
        parts.append(path.read_bytes())
    return _digest(_BUNDLER_VERSION.encode(), *parts)[:20]


def asset_hash(mode: str) -> str:
    if mode == "stub":
        return _digest(b"stub", sources_key().encode())
    return _digest(b"real", deps_key().encode(), sources_key().encode())


def build_asset(mode: str = "real") -> Asset:
    """The asset directory for `mode` ("real" or "stub"), built unless cached."""
    if mode not in ("real", "stub"):
        raise ValueError(f"unknown bundling mode {mode!r} (real or stub)")
    digest = asset_hash(mode)
    target = BUILD / "lambda-asset" / f"{mode}-{digest[:20]}"
    if not target.is_dir():
        deps = _install_deps() if mode == "real" else None

        def fill(tmp: Path) -> None:
            if deps is not None:
                shutil.copytree(deps, tmp, dirs_exist_ok=True, copy_function=_link_or_copy)
            for path in source_files():
                dest = tmp / path.relative_to(ROOT)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)

        _build_atomically(target, fill)
        _forget_old(target.parent, prefix=f"{mode}-", keep=target)
    return Asset(target, digest, mode)


def _install_deps() -> Path:
    target = BUILD / "lambda-deps" / deps_key()
    if target.is_dir():
        return target

    def fill(tmp: Path) -> None:
        command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-compile",
                   "--no-input", *PIP_TARGET_ARGS, "--target", str(tmp), "-r", str(REQUIREMENTS)]
        if CONSTRAINTS.exists():
            command += ["-c", str(CONSTRAINTS)]
        print(f"bundling: pip install of {REQUIREMENTS.name} for linux/arm64 python{PYTHON_VERSION}", file=sys.stderr)
        subprocess.run(command, check=True)
        for relative in PRUNE:
            path = tmp / relative
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        present = sorted(name for name in FORBIDDEN if (tmp / name).exists())
        if present:
            raise RuntimeError(f"the Lambda asset would contain {present}: remove what pulls them in")
        strip = _strip_tool()
        if strip:
            for so in tmp.rglob("*.so"):
                subprocess.run([strip, "--strip-unneeded", str(so)], check=False, capture_output=True)

    _build_atomically(target, fill)
    _forget_old(target.parent, prefix="", keep=target)
    return target


def _build_atomically(target: Path, fill) -> None:
    """Build into a temporary sibling, then rename: a concurrent synth never sees half an asset."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        fill(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not a lost race with another builder
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _forget_old(parent: Path, *, prefix: str, keep: Path, retain: int = 3) -> None:
    """Drop all but the newest few builds (another synth may still read a recent one)."""
    builds = sorted((p for p in parent.iterdir() if p.is_dir() and p.name.startswith(prefix)
                     and not p.name.startswith(".tmp-") and p != keep),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[retain - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def tree_size(path: Path) -> int:
    """Total bytes of the files under `path` (the unzipped size Lambda counts)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


if __name__ == "__main__":
    asset = build_asset(sys.argv[1] if len(sys.argv) > 1 else "real")
    print(f"{asset.path} {tree_size(asset.path)} bytes ({tree_size(asset.path) / 1e6:.1f} MB)")
