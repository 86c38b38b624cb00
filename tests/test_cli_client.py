"""The `masterdata` client commands, run as real subprocesses against a live server.

This module: help, usage errors, failed calls, get, list and next-number, with the
helpers of cli_support.py. Each module has one
`masterdata serve` on a fresh SQLite file: the commands are clients, and what they
call is tested on both backends elsewhere. Tests make their own uniquely named data,
so they do not depend on each other's order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cli_support import (
    CALL_FAILED,
    INTERRUPTED,
    OK,
    ROWS_REJECTED,
    USAGE,
    cli,
    create_location,
    ok,
    sqlite_server,
    unique,
)
from grpc import aio
from processes import (
    ServerProcess,
    free_port,
)

from masterdata.v1 import organization_pb2, organization_pb2_grpc


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    async with sqlite_server(tmp_path_factory) as process:
        yield process


@pytest.fixture
async def channel(server: ServerProcess) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(server.target) as channel:
        yield channel


# --- help and usage -----------------------------------------------------------------


HELP_LEVELS = [
    [],
    ["import"],
    ["import", "commodities"],
    ["export"],
    ["export", "commodities"],
    ["template"],
    ["events"],
    ["events", "tail"],
    ["get"],
    ["list"],
    ["next-number"],
    ["serve"],
    ["migrate"],
    ["seed"],
]


@pytest.mark.parametrize("level", HELP_LEVELS, ids=lambda level: " ".join(level) or "top")
async def test_help_on_every_level(level: list[str]) -> None:
    out = ok(await cli(None, *level, "--help"))
    assert out.startswith(f"usage: masterdata {' '.join(level)}".rstrip())
    if level and level[0] not in ("serve", "migrate", "seed", "import", "export", "events"):
        assert "--target" in out and "--token" in out and "--tls-ca" in out and "--timeout" in out


@pytest.mark.parametrize(
    "args",
    [
        ["get", "location"],
        ["get", "widget", "1"],
        ["get", "location", "1", "--bogus"],
        ["list", "location", "--page-size", "many"],
        ["list", "location", "--param", "no-equals-sign"],
        ["import", "commodities", "does-not-exist.csv"],
        ["export", "commodities"],
        ["export", "commodities", "-o", "x.csv", "--format", "pdf"],
        ["events", "tail", "--after", "-1"],
        ["next-number", "only-an-org"],
        ["list", "location", "--timeout", "0"],
    ],
    ids=" ".join,
)
async def test_usage_errors_exit_2(server: ServerProcess, args: list[str]) -> None:
    result = await cli(server, *args)
    assert result.returncode == USAGE, result
    assert "error:" in result.stderr


async def test_help_lists_every_exit_code() -> None:
    out = ok(await cli(None, "--help"))
    listed = out.split("\nexit codes:\n", 1)[1]
    codes = [int(line.split()[0]) for line in listed.splitlines() if line[2:3].isdigit()]
    assert codes == [OK, CALL_FAILED, USAGE, ROWS_REJECTED, INTERRUPTED], listed
    assert "set-up" in listed and "not migrated" in listed and "import" in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["location", "--param", "page_size=abc"], "--param page_size=abc: page_size takes a"),
        (["location", "--param", "pageSize=x"], "--param pageSize=x: page_size takes a whole"),
        (["location", "--param", "show_deleted=maybe"], "show_deleted takes true or false"),
        (
            ["location", "--param", "organization_id=x"],
            "--param organization_id=x: no field 'organization_id' in this request; "
            "its fields: filter, order_by, page_size, page_token, show_deleted",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
async def test_param_errors_name_the_field_as_the_flag_takes_it(
    server: ServerProcess, args: list[str], message: str
) -> None:
    result = await cli(server, "list", *args)
    assert result.returncode == USAGE, result
    assert message in result.stderr, result.stderr
    assert "Request" not in result.stderr and "Available Fields" not in result.stderr


async def test_failed_call_exits_1_naming_status_and_field(server: ServerProcess) -> None:
    result = await cli(server, "get", "location", "not-a-uuid")
    assert result.returncode == CALL_FAILED, result
    assert "INVALID_ARGUMENT" in result.stderr and "\n  id: must be a UUID" in result.stderr
    result = await cli(server, "list", "locations", "--filter", "bogus = 1")
    assert result.returncode == CALL_FAILED, result
    assert (
        "INVALID_ARGUMENT" in result.stderr and "\n  filter: unknown field 'bogus'" in result.stderr
    )
    missing = str(uuid.UUID(int=0))
    result = await cli(server, "get", "commodity", missing)
    assert result.returncode == CALL_FAILED and "NOT_FOUND" in result.stderr, result


async def test_unreachable_server_exits_1(tmp_path: Path) -> None:
    target = f"127.0.0.1:{free_port()}"
    result = await cli(None, "list", "location", "--target", target, "--timeout", "3")
    assert result.returncode == CALL_FAILED, result
    assert "UNAVAILABLE" in result.stderr


# --- get, list, next-number ---------------------------------------------------------


async def test_get_and_list_with_json_and_tables(
    server: ServerProcess, channel: aio.Channel
) -> None:
    city = unique("Rajkot")
    made = [await create_location(channel, f"{city} yard {i}", "GJ") for i in range(3)]
    fetched = json.loads(ok(await cli(server, "get", "location", made[0].id, "--json")))
    assert fetched["id"] == made[0].id and fetched["region"] == "REGION_WEST"
    assert fetched["stateCode"] == "GJ"  # proto3 JSON, as grpcurl prints it
    table = ok(await cli(server, "get", "location", made[0].id))
    assert made[0].id in table and "REGION_WEST" in table and "state_code" in table

    where = ["--filter", f'name : "{city}"', "--order-by", "name"]
    page = json.loads(
        ok(await cli(server, "list", "locations", *where, "--page-size", "2", "--json"))
    )
    assert [loc["name"] for loc in page["locations"]] == [m.name for m in made[:2]]
    assert page["nextPageToken"]
    rest = json.loads(
        ok(
            await cli(
                server,
                "list",
                "location",
                *where,
                "--page-size",
                "2",
                "--page-token",
                page["nextPageToken"],
                "--json",
            )
        )
    )
    assert [loc["name"] for loc in rest["locations"]] == [made[2].name]
    every = json.loads(
        ok(await cli(server, "list", "location", *where, "--page-size", "1", "--all", "--json"))
    )
    assert [loc["id"] for loc in every["locations"]] == [m.id for m in made]
    assert "nextPageToken" not in every
    result = await cli(server, "list", "location", *where, "--page-size", "2")
    assert made[0].name in ok(result) and made[2].name not in result.stdout
    assert "--page-token" in result.stderr


async def organization_with_series(channel: aio.Channel) -> str:
    stub = organization_pb2_grpc.OrganizationServiceStub(channel)
    org = (
        await stub.CreateOrganization(
            organization_pb2.CreateOrganizationRequest(
                organization=organization_pb2.Organization(name=unique("Traders"))
            )
        )
    ).organization
    year = organization_pb2.FinancialYear(organization_id=org.id)
    year.start_date.year, year.start_date.month, year.start_date.day = 2026, 4, 1
    year.end_date.year, year.end_date.month, year.end_date.day = 2027, 3, 31
    year = (
        await stub.CreateFinancialYear(
            organization_pb2.CreateFinancialYearRequest(financial_year=year)
        )
    ).financial_year
    await stub.ActivateFinancialYear(organization_pb2.ActivateFinancialYearRequest(id=year.id))
    series = organization_pb2.DocumentSeries(
        organization_id=org.id,
        financial_year_id=year.id,
        document_type="INVOICE",
        prefix="INV/{FY}/",
    )
    await stub.CreateDocumentSeries(
        organization_pb2.CreateDocumentSeriesRequest(document_series=series)
    )
    return org.id


async def test_next_number(server: ServerProcess, channel: aio.Channel) -> None:
    org = await organization_with_series(channel)
    assert ok(await cli(server, "next-number", org, "INVOICE")) == "INV/2026-27/000001\n"
    retry = ["--request-id", str(uuid.uuid4()), "--json"]
    first = json.loads(ok(await cli(server, "next-number", org, "INVOICE", *retry)))
    again = json.loads(ok(await cli(server, "next-number", org, "INVOICE", *retry)))
    assert first == again and first["documentNumber"] == "INV/2026-27/000002"
    result = await cli(server, "next-number", org, "CONTRACT")
    assert result.returncode == CALL_FAILED, result
    assert "FAILED_PRECONDITION" in result.stderr and "NO_DOCUMENT_SERIES" in result.stderr


def test_every_get_and_list_method_has_a_resource_name() -> None:
    """`get`/`list` are derived from the descriptors: no Get or List RPC is left out."""
    from masterdata.cli.resources import cli_resources
    from masterdata.client.methods import FILES

    methods = {
        f"/{service.full_name}/{method.name}"
        for file in FILES
        if file.package == "masterdata.v1"
        for service in file.services_by_name.values()
        for method in service.methods
        if not method.server_streaming and method.name.startswith(("Get", "List"))
    }
    resources = cli_resources().values()
    covered = {r.listing.list_path for r in resources} | {r.get.path for r in resources if r.get}
    # Not resources: the import template, units (no id) and the event feed (`events tail`).
    assert methods - covered == {
        "/masterdata.v1.CommodityService/GetImportTemplate",
        "/masterdata.v1.CommodityService/ListUnits",
        "/masterdata.v1.EventService/ListEvents",
    }
    assert cli_resources()["gst-registration"].listing.name == "gst_registrations"
