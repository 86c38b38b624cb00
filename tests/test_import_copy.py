"""What an import writes is what the one-row calls write, whatever the text holds.

On PostgreSQL an import's rows go to the database as COPY text written by the
server (storage/postgres/staging.py), creates straight into the table and updates
through the staging table; a tab, line break or backslash in any value must reach
the row as it was sent. And each row's event carries the commodity a Get returns,
as CreateCommodity's and UpdateCommodity's events do.
"""

from __future__ import annotations

import pytest
from bulk_support import Stub, csv_file, import_file
from grpc import aio
from support import events

from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

HEADER = [
    "Name",
    "Category",
    "Description",
    "Trade Unit",
    "Quality Standards",
    "Trading Hubs",
    "Harvest Season (JSON)",
    "Storage Conditions (JSON)",
]
#: Texts that COPY's text format escapes, and some it does not.
AWKWARD = ["tab\there", "line\nbreak", "back\\slash", "\\N", 'quo"te', "ünï"]


def awkward_row(i: int, text: str, description: str) -> list[str]:
    return [
        f"{text} {i}",
        f"Cat\\{i % 2}",
        description,
        "BALE",
        f"ISO\\{i}; {text}",
        "Raj\tkot",
        '{"India": {"start": "Oct\\\\ober", "note": "a\\nb\\tc\\r"}}',
        '{"path": "C:\\\\store", "ok": true, "n": 1.5}',
    ]


@pytest.fixture
def stub(channel: aio.Channel) -> Stub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


async def _get(stub: Stub, commodity_id: str) -> pb.Commodity:
    return (await stub.GetCommodity(pb.GetCommodityRequest(id=commodity_id))).commodity


async def test_awkward_text_is_stored_as_sent_and_events_carry_the_row(
    stub: Stub, db: Database
) -> None:
    rows = [awkward_row(i, text, f"about {text}") for i, text in enumerate(AWKWARD)]
    result = await import_file(stub, csv_data=csv_file(HEADER, rows))
    assert result.counts() == (len(rows), len(rows), 0, 0, 0)

    created = await events(db, event_type="commodity.created")
    assert len(created) == len(rows)
    for event, row in zip(created, rows, strict=True):
        sent = pb.Commodity.FromString(event.resource)
        stored = await _get(stub, sent.id)
        assert sent == stored
        assert (stored.name, stored.category, stored.description) == tuple(row[:3])
        assert list(stored.quality_standards) == [
            f"ISO\\{rows.index(row)}",
            row[0].rsplit(" ", 1)[0],
        ]
        assert list(stored.trading_hubs) == ["Raj\tkot"]
        assert stored.harvest_season["India"]["note"] == "a\nb\tc\r"
        assert stored.harvest_season["India"]["start"] == "Oct\\ober"
        assert stored.storage_conditions["path"] == "C:\\store"

    # The same rows again with new descriptions: updates, through the staging table.
    changed = [[*row[:2], f"now {AWKWARD[-1 - i]}", *row[3:]] for i, row in enumerate(rows)]
    result = await import_file(stub, csv_data=csv_file(HEADER, changed), mode=pb.IMPORT_MODE_UPSERT)
    assert result.counts() == (len(rows), 0, len(rows), 0, 0)
    updated = await events(db, event_type="commodity.updated")
    assert len(updated) == len(rows)
    for event in updated:
        sent = pb.Commodity.FromString(event.resource)
        stored = await _get(stub, sent.id)
        assert sent == stored and list(event.changed_fields) == ["description"]
    by_name = {
        c.name: c
        for c in [await _get(stub, pb.Commodity.FromString(e.resource).id) for e in updated]
    }
    for row in changed:
        assert by_name[row[0]].description == row[2]


async def test_an_imported_rows_event_is_the_one_a_create_would_record(
    stub: Stub, db: Database
) -> None:
    """The same commodity created by CreateCommodity and by an import: the events'
    commodities differ only in what makes each row its own (id, audit fields)."""
    row = awkward_row(0, "tab\tand\\slash", "line\nbreak")
    imported = await import_file(stub, csv_data=csv_file(HEADER, [row]))
    assert imported.counts() == (1, 1, 0, 0, 0)
    (from_import,) = await events(db, event_type="commodity.created")

    message = pb.Commodity.FromString(from_import.resource)
    other = pb.Commodity()
    other.CopyFrom(message)
    for name in ("id", "create_time", "update_time", "created_by", "updated_by", "etag"):
        other.ClearField(name)
    other.name = "created one by one"
    await stub.CreateCommodity(pb.CreateCommodityRequest(commodity=other))
    by_create = [e for e in await events(db, event_type="commodity.created") if e != from_import]
    (from_create,) = [e for e in by_create if e.aggregate_id != from_import.aggregate_id]

    one_by_one = pb.Commodity.FromString(from_create.resource)
    for audit in ("id", "create_time", "update_time", "created_by", "updated_by"):
        one_by_one.ClearField(audit)
        message.ClearField(audit)
    message.name = "created one by one"
    assert message == one_by_one
