"""Prove the client's floors: tests/floor with the client installed at exactly them.

Makes a venv of its own (.build/floor-venv, anew each run), installs clients/ into it
with every dependency pinned to the floor clients/pyproject.toml declares (`>=X`
becomes `==X`) plus pytest, and runs tests/floor there. The server those tests call
runs from the interpreter running this script (the project's .venv). Run from the
repository root: `.venv/bin/python tests/floor/run.py` (.ci/run does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
VENV = ROOT / ".build" / "floor-venv"
TEST_TOOLS = ("pytest", "pytest-asyncio", "pytest-timeout")


def floor_pins() -> list[str]:
    """Each dependency of the client distribution at its floor: `name>=X` as `name==X`."""
    project = tomllib.loads((ROOT / "clients" / "pyproject.toml").read_text())["project"]
    pins = []
    for requirement in project["dependencies"]:
        name, sep, floor = requirement.partition(">=")
        if not sep or "," in floor:
            raise SystemExit(f"clients/pyproject.toml: {requirement!r} is not `name>=floor`")
        pins.append(f"{name.strip()}=={floor.strip()}")
    return pins


def install() -> Path:
    shutil.rmtree(VENV, ignore_errors=True)
    venv.create(VENV, with_pip=True)
    python = VENV / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *floor_pins(), str(ROOT / "clients"), *TEST_TOOLS], check=True)
    return python


def main() -> int:
    started = time.monotonic()
    python = install()
    installed = time.monotonic()
    show = "import grpc, google.protobuf as p; print(f'grpcio {grpc.__version__}', end=', ');"
    show += "print(f'protobuf {p.__version__}')"
    versions = subprocess.run([str(python), "-c", show], capture_output=True, text=True, check=True)
    print(f"floor venv: {versions.stdout.strip()} ({installed - started:.0f} s)", flush=True)
    server = Path(sys.executable).parent / "masterdata"
    env = dict(os.environ, MASTERDATA_SERVER_COMMAND=str(server))
    argv = [
        str(python),
        "-m",
        "pytest",
        "-c",
        str(ROOT / "pyproject.toml"),
        "--confcutdir",
        str(ROOT / "tests" / "floor"),
        "-o",
        f"pythonpath={ROOT / 'tests'}",
        "-p",
        "no:cacheprovider",
        "-q",
        "-W",
        "error::pytest.PytestUnraisableExceptionWarning",
        str(ROOT / "tests" / "floor"),
    ]
    code = subprocess.run(argv, cwd=ROOT, env=env, check=False).returncode
    print(f"floor tests: {time.monotonic() - installed:.0f} s after the install")
    return code


if __name__ == "__main__":
    sys.exit(main())
