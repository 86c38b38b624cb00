"""Two distributions: the client (clients/) installs and runs without the server's libraries.

Both wheels are built as a release would build them (`pip wheel --no-deps`) and read:
what they require, what they hold, their entry points. The client is also installed
into a clean venv (from pip's cache, ~20 s), to see what comes with it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "clients" / "masterdata" / "v1"
#: What only the server may bring: database drivers, ORM, migrations, spreadsheets.
SERVER_LIBRARIES = {"sqlalchemy", "asyncpg", "aiosqlite", "alembic", "greenlet", "openpyxl"}
CLIENT_REQUIRES = {
    "grpcio",
    "grpcio-health-checking",
    "grpcio-status",
    "protobuf",
    "googleapis-common-protos",
    "rich",
}


class Wheel:
    """A built wheel's metadata, entry points and file names."""

    def __init__(self, path: Path) -> None:
        with zipfile.ZipFile(path) as archive:
            self.names = archive.namelist()
            info = next(n for n in self.names if n.endswith(".dist-info/METADATA"))
            self.metadata = Parser().parsestr(archive.read(info).decode())
            points = info.replace("METADATA", "entry_points.txt")
            self.entry_points = archive.read(points).decode() if points in self.names else ""

    def requires(self, extra: str | None = None) -> dict[str, Requirement]:
        """Requirements by name: unconditional ones, or those of `extra`."""
        found = {}
        for line in self.metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            marker = requirement.marker
            wanted = marker.evaluate({"extra": extra or ""}) if marker else extra is None
            if wanted and (extra is None or marker is not None):
                found[canonicalize_name(requirement.name)] = requirement
        return found

    def packages(self) -> set[str]:
        return {"/".join(n.split("/")[:2]) for n in self.names if n.startswith("masterdata/")}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Wheel]:
    out = tmp_path_factory.mktemp("wheels")
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out)]
    subprocess.run([*pip, str(ROOT / "clients"), str(ROOT)], check=True, timeout=240)
    return {
        "client": Wheel(next(out.glob("masterdata_client-*.whl"))),
        "server": Wheel(next(out.glob("masterdata-*.whl"))),
    }


def test_the_client_requires_grpc_protobuf_and_rich_alone(wheels: dict[str, Wheel]) -> None:
    client = wheels["client"]
    assert set(client.requires()) == CLIENT_REQUIRES
    assert set(client.requires("xlsx")) == {"openpyxl"}  # an extra, not a dependency
    otel = client.requires("otel")  # context propagation only: no SDK, no exporter
    assert set(otel) == {"opentelemetry-api"}
    assert otel["opentelemetry-api"].specifier == server_requirement("otel", "opentelemetry-api")


def server_requirement(extra: str, name: str) -> SpecifierSet:
    """The version range the root pyproject's `extra` gives `name`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = map(Requirement, project["optional-dependencies"][extra])
    return next(r.specifier for r in requirements if canonicalize_name(r.name) == name)


def test_the_client_holds_the_sdk_the_cli_and_v1_but_no_server(wheels: dict[str, Wheel]) -> None:
    client = wheels["client"]
    assert client.packages() == {"masterdata/cli", "masterdata/client", "masterdata/v1"}
    assert "masterdata/__init__.py" not in client.names  # a namespace shared with the server
    assert "masterdata/v1/descriptor_set.binpb" in client.names
    typed = {"masterdata/client/py.typed", "masterdata/v1/py.typed", "masterdata/v1/events_pb2.pyi"}
    assert typed <= set(client.names), "users' type checkers see the SDK's types and the stubs"
    assert re.search(r"^masterdata = masterdata\.cli:main$", client.entry_points, re.M)


def test_the_server_requires_the_client_and_adds_its_commands(wheels: dict[str, Wheel]) -> None:
    server = wheels["server"]
    client = server.requires()["masterdata-client"]
    assert client.url and client.url.endswith("/clients"), client
    assert SERVER_LIBRARIES - {"greenlet"} <= set(server.requires())
    assert server.packages() == {"masterdata/server"}
    assert "[masterdata.cli]\nserver = masterdata.server.cli:register" in server.entry_points
    assert "console_scripts" not in server.entry_points  # `masterdata` is the client's


def test_declared_floors_are_those_of_the_generated_code() -> None:
    """grpcio and protobuf floors are what the pinned generator's code asks for."""
    project = tomllib.loads((ROOT / "clients" / "pyproject.toml").read_text())["project"]
    floors = {
        canonicalize_name(r.name): next(iter(r.specifier)).version
        for r in map(Requirement, project["dependencies"])
    }
    grpc_stubs = {
        m[1] for p in GENERATED.glob("*_pb2_grpc.py") for m in [_find(p, "GRPC_GENERATED_VERSION")]
    }
    messages = {
        m[1] for p in GENERATED.glob("*_pb2.py") for m in [_find(p, "Protobuf Python Version:")]
    }
    assert grpc_stubs == {floors["grpcio"]} and messages == {floors["protobuf"]}
    assert floors["grpcio-status"] == floors["grpcio-health-checking"] == floors["grpcio"]
    assert (
        f'GENERATOR = "grpcio-tools=={floors["grpcio"]}"'
        in (ROOT / "scripts" / "gen_protos.py").read_text()
    )


def _find(path: Path, key: str) -> re.Match[str]:
    match = re.search(re.escape(key) + r"\s*=?\s*'?([0-9.]+)'?", path.read_text())
    assert match, f"{path.name} has no {key}"
    return match


def test_the_client_installs_alone_in_a_clean_venv(tmp_path: Path) -> None:
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = str(env / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", str(ROOT / "clients")], check=True, timeout=240)
    listed = subprocess.run([*pip, "list"], capture_output=True, text=True, check=True).stdout
    names = {canonicalize_name(line.split()[0]) for line in listed.splitlines()[2:]}
    assert "masterdata-client" in names and not names & SERVER_LIBRARIES, names
    assert "masterdata" not in names
    shown = subprocess.run(
        [str(env / "bin" / "masterdata"), "--help"], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0, shown.stderr
    commands = set(re.findall(r"^    ([a-z-]+)", shown.stdout, re.M))
    assert {"get", "list", "export", "events"} <= commands and "serve" not in commands, commands


def test_the_suite_runs_the_client_of_this_checkout() -> None:
    """A bare `pip install -e '.[dev]'` installs a copy of clients/ (the server's direct
    reference), which shadows the checkout; `make` installs clients/ editable after it."""
    import masterdata.client

    where = Path(masterdata.client.__file__).resolve()
    assert where.is_relative_to(ROOT / "clients"), (
        f"masterdata.client comes from {where}: run `pip install --no-deps -e ./clients`"
    )
