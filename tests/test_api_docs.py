"""docs/api.md: generated from the protos' comments, complete, and never stale."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from masterdata.v1 import commodity_pb2, events_pb2, location_pb2, organization_pb2, trade_terms_pb2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import error_reasons  # noqa: E402
import gen_api_docs  # noqa: E402

CONTRACT = (location_pb2, organization_pb2, commodity_pb2, trade_terms_pb2, events_pb2)


@pytest.fixture(scope="module")
def rendered() -> str:
    return gen_api_docs.render()


def test_committed_reference_is_current(rendered: str) -> None:
    committed = (ROOT / "docs" / "api.md").read_text()
    assert committed == rendered, "docs/api.md is stale: run `make docs`"


def test_every_element_of_the_contract_is_documented(rendered: str) -> None:
    missing = []
    for module in CONTRACT:
        file = module.DESCRIPTOR
        for service in file.services_by_name.values():
            missing += [f"## {service.name}"] if f"## {service.name}\n" not in rendered else []
            missing += [m.name for m in service.methods if f"| `{m.name}` |" not in rendered]
        for message in file.message_types_by_name.values():
            missing += [message.name] if f"### {message.name}\n" not in rendered else []
            missing += [
                f"{message.name}.{f.name}"
                for f in message.fields
                if f"| `{f.name}` | {f.number} |" not in rendered
            ]
        for enum in file.enum_types_by_name.values():
            missing += [enum.name] if f"### {enum.name}\n" not in rendered else []
            missing += [
                v.name for v in enum.values if f"| `{v.name}` | {v.number} |" not in rendered
            ]
    assert not missing


def test_streaming_is_shown(rendered: str) -> None:
    upload = next(line for line in rendered.splitlines() if "| `UploadCommodities` |" in line)
    assert upload.count("stream [") == 2
    get = next(line for line in rendered.splitlines() if "| `GetLocation` |" in line)
    assert "stream" not in get


def test_the_reference_is_made_of_the_protos_comments(tmp_path: Path) -> None:
    """A comment edited in a proto is what the reference says, and nothing else is."""
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    proto = tmp_path / "protos" / "masterdata" / "v1" / "location.proto"
    text = proto.read_text()
    before = "  // Latitude in degrees, -90 to 90.\n"
    assert before in text
    proto.write_text(text.replace(before, "  // Latitude, north positive | WGS 84.\n"))
    files = gen_api_docs.descriptor_set(tmp_path / "protos")
    edited = gen_api_docs.render(files)
    assert "| `latitude` | 5 | optional `double` | Latitude, north positive \\| WGS 84. |" in edited
    assert "Latitude in degrees" not in edited


def test_every_reason_the_server_sends_is_documented() -> None:
    assert gen_api_docs.reason_drift() == []


def test_a_new_reason_is_found_in_each_way_the_code_names_one(tmp_path: Path) -> None:
    (tmp_path / "rules.py").write_text(
        "def check(v, ok):\n"
        '    v.add("name", "is bad", "BAD_NAME")\n'
        '    violations = [FieldViolation("code", "is bad", "BAD_CODE")]\n'
        '    raise NotFound("gone", reason="GONE_AWAY" if ok else "NEVER_WAS")\n'
        "def verdict():\n"
        '    return "is for another", "WRONG_PLACE"\n'
        'UNITS = ("KG", "KILOGRAM")\n'
    )
    found = error_reasons.reasons_in_code(tmp_path)
    assert set(found) == {"BAD_NAME", "BAD_CODE", "GONE_AWAY", "NEVER_WAS", "WRONG_PLACE"}


def test_check_fails_on_a_stale_reference(tmp_path: Path) -> None:
    stale = tmp_path / "api.md"
    stale.write_text((ROOT / "docs" / "api.md").read_text().replace("Latitude", "Lat", 1))
    assert gen_api_docs.check(stale) == 1
