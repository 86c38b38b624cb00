"""The import's memoised CPU steps give what the plain ones give: checks and event bytes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from masterdata.server.bulk.batches import BatchRunner
from masterdata.server.bulk.candidates import (
    DEFAULTS,
    UNCHECKED,
    Candidate,
    FileConverter,
    RowFailure,
    failure,
    finalise,
)
from masterdata.server.bulk.columns import resolve_header
from masterdata.server.bulk.messages import MessageBuilder
from masterdata.server.bulk.payloads import PayloadEncoder
from masterdata.server.bulk.planning import Audit, FileState, Stored, plan_batch
from masterdata.server.bulk.sources import FileRow
from masterdata.server.bulk.value_keys import KeyedMemo
from masterdata.server.domain.commodities import derive_commodity, validate_commodity
from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.families.commodities.specs import COMMODITY
from masterdata.server.storage.postgres import staging

DOCUMENT = {"India": {"start": "October", "n": 3.0}}
VALUES: list[dict[str, Any]] = [
    {"name": "Cotton", "category": "Fibre"},
    {"name": "Jute", "category": "Fibre", "hsn_code": "5303", "gst_rate": Decimal("5.00")},
    {"name": "Rice", "category": "Cereal", "hsn_code": "12", "hs_code_6digit": "100630"},
    {"name": "Tea", "category": "Bev", "supported_currencies": ["inr", "USD"], "trade_unit": "MT"},
    {"name": "Bad", "category": "X", "base_unit": "FURLONG", "gst_rate": Decimal("101")},
    {"name": "", "category": "", "hsn_code": "1", "major_producing_countries": ["in", "zz"]},
    {
        "name": "कपास",
        "category": "Fibre",
        "description": "raw",
        "price_volatility": "PRICE_VOLATILITY_HIGH",
        "harvest_season": DOCUMENT,
        "storage_conditions": {},
        "standard_weight_per_unit": Decimal("170.000000"),
        "trade_unit": "BALE",
        "shelf_life_days": 0,
        "is_active": False,
    },
]


def plain_finalise(number: int, merged: Mapping[str, Any]) -> dict[str, Any] | RowFailure:
    """finalise as it was before its memo: every check on every row."""
    violations = ViolationCollector()
    for name in COMMODITY.required:
        if merged.get(name) in (None, "", [], {}):
            violations.add(name, "is required", "REQUIRED")
    validate_commodity(merged, violations)
    if violations.violations:
        return failure(number, violations.violations)
    return dict(merged) | derive_commodity(merged)


@pytest.mark.parametrize("values", VALUES)
def test_finalise_with_its_memo_is_finalise_without(values: dict[str, Any]) -> None:
    merged = DEFAULTS | values
    for _ in range(2):  # the second time from the memo
        assert finalise(7, merged) == plain_finalise(7, merged)


class Recording(dict[str, Any]):
    """A row that remembers which keys were read."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


@pytest.mark.parametrize("values", VALUES)
def test_the_memoised_checks_read_none_of_the_unchecked_fields(values: dict[str, Any]) -> None:
    """The memo's key leaves UNCHECKED out: the checks must not depend on them (codes
    aside, which finalise checks per row before the memo)."""
    row = Recording(DEFAULTS | values)
    validate_commodity(row, ViolationCollector())
    derive_commodity(row)
    assert row.read & UNCHECKED <= {"hsn_code", "hs_code_6digit"}


def rows() -> Iterator[dict[str, Any]]:
    now = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    for i, values in enumerate(VALUES * 3):
        final = finalise(2, DEFAULTS | values | {"name": f"N{i}", "category": "C"})
        if isinstance(final, RowFailure):
            continue
        yield final | {
            "id": uuid.uuid4(),
            "description": "d" * (i * 40),  # lengths on both sides of one varint byte
            "create_time": now - timedelta(days=i % 2),
            "update_time": now,
            "delete_time": now if i % 5 == 0 else None,
            "created_by": "alice",
            "updated_by": "bob",
            "revision": 1 + i % 3,
        }


def test_event_payloads_are_the_serialized_messages() -> None:
    builder = MessageBuilder(COMMODITY)
    encoder = PayloadEncoder(builder)
    for row in [*rows(), *rows()]:  # the second pass from the cached pieces
        assert encoder.payload(row) == builder.build(row).SerializeToString()


def test_the_events_of_planned_creates_are_their_rows_serialized() -> None:
    """Creates planned from a file: payloads by shape equal the rows' messages."""
    header = ["Name", "Category", "Description", "HSN Code", "Trade Unit", "GST Rate (%)"]
    header += ["Supported Currencies", "Harvest Season (JSON)", "Active"]
    resolved = resolve_header(header, "csv_data")
    converter = FileConverter(resolved)
    cells = [
        [
            *(
                f"C{i}",
                f"Cat {i % 3}",
                "d" * (i % 150),
                ("", "5201")[i % 2],
                ("MT", "KG")[i % 2],
            ),
            *(("5", "12.5", "")[i % 3], ("INR;usd", "")[i % 2], ('{"a": 1}', "")[i % 2], "yes"),
        ]
        for i in range(40)
    ]
    runner = BatchRunner(upsert=False, backend=None, actor="alice")  # type: ignore[arg-type]
    candidates = [
        runner._checked(converter.convert(FileRow(i + 2, c))) for i, c in enumerate(cells)
    ]
    assert all(isinstance(c, Candidate) and c.checks is not None for c in candidates)
    for now in (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)):
        state = FileState()
        plan = plan_batch(candidates, Stored({}, {}), state, upsert=False, audit=Audit("bob", now))
        assert len(plan.creates) == 40 and all(plan.create_shapes)
        shaped = list(zip(plan.creates, plan.create_shapes, strict=True))
        events = runner._created(Audit("bob", now), "req-1", shaped)
        builder = MessageBuilder(COMMODITY)
        for event, row in zip(events, plan.creates, strict=True):
            assert event.resource == builder.build(row).SerializeToString()
            assert (event.aggregate_id, event.actor, event.occur_time) == (row["id"], "bob", now)
        # The COPY text of the rows' shared values, looked up by shape and stamps, is
        # the text written value by value.
        assert staging.records(shaped) == staging.records([(row, None) for row in plan.creates])


def test_a_files_rows_as_creates_are_what_finalise_makes_of_them() -> None:
    """The converter's creates from a shape's checked values (candidates._as_create)
    equal finalise's of the whole row, failures (same error) included."""
    header = ["Name", "Category", "HSN Code", "HS Code (6 digit)", "GST Rate (%)", "Trade Unit"]
    header += ["Description", "Supported Currencies"]
    converter = FileConverter(resolve_header(header, "csv_data"))
    cells = [
        [name, category, hsn, hs6, gst, unit, "d", "inr;usd"]
        for name in ("Cotton", "", "  ")
        for category in ("Fibre", "")
        for hsn, hs6 in (("5201", ""), ("52010010", "520100"), ("52X", ""), ("5201", "530100"))
        for gst, unit in (("5", "KG"), ("105", "MT"), ("", "FURLONG"), ("12", "bale"))
    ]
    for i, row in enumerate(cells):
        candidate = converter.convert(FileRow(i + 2, row))
        assert isinstance(candidate, Candidate)
        expected = plain_finalise(i + 2, DEFAULTS | candidate.values)
        made = candidate.as_create
        if made is None:  # a shape that failed its checks: the runner finalises it
            made = finalise(i + 2, DEFAULTS | candidate.values, candidate.checks, own=True)
        assert made == expected


def test_a_keyed_memo_never_answers_for_a_freed_object_whose_identity_is_reused() -> None:
    """Keys hold identities; the memo keeps their objects alive while it holds the keys,
    across both of its caches and their clearing."""
    memo = KeyedMemo(
        lambda row: (row["plain"], repr(row["documents"])),
        plain=["plain"],
        documents=["documents"],
        limit=3,
    )
    for i in range(3000):
        row = {"plain": Decimal(i % 5), "documents": {"i": i}}
        assert memo(row) == (Decimal(i % 5), repr({"i": i}))
