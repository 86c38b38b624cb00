"""Filters, ordering and keyset paging compiled to SQL, on SQLite and PostgreSQL.

Each check runs against a throwaway table and compares the database's answer
with a Python reference, so both backends must agree with the same semantics.
"""

from __future__ import annotations

import base64
import json
import os
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import StaticPool

from masterdata.server.domain.errors import InvalidArgument
from masterdata.server.domain.filtering import parse_filter
from masterdata.server.domain.ordering import OrderTerm, parse_order_by
from masterdata.server.memos import Remembered
from masterdata.server.repositories import query
from masterdata.server.repositories.query import (
    FieldKind,
    QueryField,
    build_order,
    clamp_page_size,
    compile_filter,
    decode_page_token,
    encode_page_token,
    filter_condition,
    key_values,
    keyset_after,
    keyset_params,
    query_fingerprint,
    sort_keys,
)

POSTGRES_URL = os.environ.get(
    "MASTERDATA_TEST_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test"
)
REGIONS = ["REGION_NORTH", "REGION_SOUTH", "REGION_EAST", "REGION_WEST"]
NAMES = [
    "Alpha",
    "alpha",
    "ALPHA mill",
    "MiXeD Case",
    "100% pure",
    "100 percent",
    "a_b",
    "axb",
    "O'Brien",
    'say "hi"',
    "back\\slash",
    "back slash",
    "'; DROP TABLE locations; --",
    "SELECT * FROM x",
    "Ünïcode Ärger",
    "日本 warehouse",
    "",
]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_table() -> sa.Table:
    """A table of its own MetaData with a unique name, so parallel runs never clash."""
    return sa.Table(
        f"query_test_{uuid.uuid4().hex[:10]}",
        sa.MetaData(),
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("price", sa.Numeric(12, 4), nullable=False),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("region", sa.String(40), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("note", sa.String(50), nullable=True),
    )


def make_rows(count: int = 200) -> list[dict[str, Any]]:
    """Varied rows with many duplicate sort keys (only the id is unique)."""
    rng = random.Random(20260101)
    return [
        {
            "id": uuid.UUID(int=rng.getrandbits(128)),
            "name": rng.choice(NAMES),
            "code": f"c{rng.randrange(150):03d}",
            "qty": rng.randrange(10),
            "price": Decimal(rng.randrange(500, 3000)) / 100,
            "latitude": rng.choice([None, 0.0, 12.5, -3.25, 28.6139, 77.2090]),
            "is_active": rng.random() < 0.6,
            "region": rng.choice(REGIONS),
            "create_time": T0 + timedelta(hours=rng.randrange(24), microseconds=rng.choice([0, 7])),
            "valid_from": date(2026, 1, 1) + timedelta(days=rng.randrange(60)),
            "note": rng.choice([None, "x", "y"]),
        }
        for _ in range(count)
    ]


@dataclass
class Db:
    engine: AsyncEngine
    table: sa.Table
    rows: list[dict[str, Any]]
    fields: dict[str, QueryField]

    async def ids(self, statement: sa.Select[Any]) -> list[uuid.UUID]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(statement)).scalars())


def query_fields(table: sa.Table) -> dict[str, QueryField]:
    c = table.c
    return {
        "id": QueryField(c.id, FieldKind.UUID),
        "name": QueryField(c.name, FieldKind.STRING),
        "code": QueryField(c.code, FieldKind.STRING),
        "qty": QueryField(c.qty, FieldKind.INTEGER),
        "price": QueryField(c.price, FieldKind.DECIMAL),
        "latitude": QueryField(c.latitude, FieldKind.DECIMAL),
        "is_active": QueryField(c.is_active, FieldKind.BOOLEAN),
        "region": QueryField(c.region, FieldKind.ENUM, "REGION_", frozenset(REGIONS)),
        "create_time": QueryField(c.create_time, FieldKind.TIMESTAMP),
        "valid_from": QueryField(c.valid_from, FieldKind.DATE),
        "note": QueryField(c.note, FieldKind.STRING),
    }


_UNREACHABLE: dict[str, str] = {}  # url -> why; a failed connect is not retried per test


async def _open(url: str) -> AsyncEngine:
    """The engine; skips (or fails, if PostgreSQL is required) when it is unreachable."""
    if url.startswith("sqlite"):
        return create_async_engine(url, poolclass=StaticPool)
    engine = create_async_engine(url)
    if url not in _UNREACHABLE:
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.select(1))
            return engine
        except (OSError, sa.exc.SQLAlchemyError) as error:
            _UNREACHABLE[url] = f"PostgreSQL unreachable at {url} ({error})"
    await engine.dispose()
    if os.environ.get("MASTERDATA_REQUIRE_POSTGRES") == "1":
        pytest.fail(_UNREACHABLE[url] + " but MASTERDATA_REQUIRE_POSTGRES=1")
    pytest.skip(_UNREACHABLE[url] + "; set MASTERDATA_TEST_POSTGRES_URL")


@pytest_asyncio.fixture(scope="module", params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Db]:
    url = "sqlite+aiosqlite://" if request.param == "sqlite" else POSTGRES_URL
    engine = await _open(url)
    table, rows = make_table(), make_rows()
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
        await conn.execute(table.insert(), rows)
    try:
        yield Db(engine, table, rows, query_fields(table))
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
        await engine.dispose()


# ------------------------------------------------------------------ filters


def low(text: str) -> str:
    """ASCII-only lower-casing: what SQLite's lower() does (see query.py notes)."""
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


Row = dict[str, Any]
CASES: list[tuple[str, Callable[[Row], bool]]] = [
    ('name = "Alpha"', lambda r: r["name"] == "Alpha"),
    ("name = alpha", lambda r: r["name"] == "alpha"),
    ('name != "Alpha"', lambda r: r["name"] != "Alpha"),
    ('name : "alpha"', lambda r: "alpha" in low(r["name"])),
    ('name : "MIXED"', lambda r: "mixed" in low(r["name"])),
    ('name = "mixed case"', lambda r: r["name"] == "mixed case"),
    ('name : "%"', lambda r: "%" in r["name"]),
    ('name : "100%"', lambda r: "100%" in r["name"]),
    ('name : "_"', lambda r: "_" in r["name"]),
    ('name : "a_b"', lambda r: "a_b" in r["name"]),
    ('name : "\\\\"', lambda r: "\\" in r["name"]),
    ('name : "back\\\\slash"', lambda r: "back\\slash" in r["name"]),
    ('name : "\'"', lambda r: "'" in r["name"]),
    ('name = "O\'Brien"', lambda r: r["name"] == "O'Brien"),
    ("name = 'say \"hi\"'", lambda r: r["name"] == 'say "hi"'),
    ('name = "\'; DROP TABLE locations; --"', lambda r: r["name"].startswith("'; DROP")),
    ('name : "SELECT *"', lambda r: "select *" in low(r["name"])),
    ('name : "ï"', lambda r: "ï" in r["name"]),
    ('name = "日本 warehouse"', lambda r: r["name"] == "日本 warehouse"),
    ('name = ""', lambda r: r["name"] == ""),
    ('name : ""', lambda r: True),
    ('code >= "c050" AND code < "c100"', lambda r: "c050" <= r["code"] < "c100"),
    ("qty > 3 OR NOT is_active = true", lambda r: r["qty"] > 3 or not r["is_active"]),
    (
        "qty = 5 OR qty = 7 AND is_active = false",
        lambda r: r["qty"] == 5 or (r["qty"] == 7 and not r["is_active"]),
    ),
    (
        "(qty = 5 OR qty = 7) AND is_active = false",
        lambda r: r["qty"] in (5, 7) and not r["is_active"],
    ),
    ("NOT (qty >= 2 AND qty <= 6)", lambda r: not 2 <= r["qty"] <= 6),
    ("-qty = 3", lambda r: r["qty"] != 3),
    ("qty : 4", lambda r: r["qty"] == 4),
    ("qty != -1", lambda r: True),
    ("price >= 10.50", lambda r: r["price"] >= Decimal("10.50")),
    ("price < 20", lambda r: r["price"] < 20),
    ("price = 12.3400", lambda r: r["price"] == Decimal("12.34")),
    ("latitude > 12.5", lambda r: r["latitude"] is not None and r["latitude"] > 12.5),
    ("latitude = 28.6139", lambda r: r["latitude"] == 28.6139),
    ("latitude != 0", lambda r: r["latitude"] != 0),
    ("NOT latitude > 12.5", lambda r: not (r["latitude"] is not None and r["latitude"] > 12.5)),
    ("latitude <= -3", lambda r: r["latitude"] is not None and r["latitude"] <= -3),
    ('note != "x"', lambda r: r["note"] != "x"),
    ('NOT note = "x"', lambda r: r["note"] != "x"),
    ('note : "X"', lambda r: r["note"] == "x"),
    ("is_active = true", lambda r: r["is_active"]),
    ("is_active != true", lambda r: not r["is_active"]),
    ("is_active : false", lambda r: not r["is_active"]),
    ("region = WEST", lambda r: r["region"] == "REGION_WEST"),
    ("region = REGION_EAST", lambda r: r["region"] == "REGION_EAST"),
    ('region = "north"', lambda r: r["region"] == "REGION_NORTH"),
    ("region != REGION_SOUTH", lambda r: r["region"] != "REGION_SOUTH"),
    ("region : west", lambda r: r["region"] == "REGION_WEST"),
    (
        'create_time > "2026-01-01T06:00:00Z"',
        lambda r: r["create_time"] > ts("2026-01-01T06:00:00+00:00"),
    ),
    (
        'create_time <= "2026-01-01T11:30:00+05:30"',
        lambda r: r["create_time"] <= ts("2026-01-01T06:00:00+00:00"),
    ),
    (
        'create_time = "2026-01-01T03:00:00.000007Z"',
        lambda r: r["create_time"] == T0 + timedelta(hours=3, microseconds=7),
    ),
    (
        'create_time >= "2026-01-01T03:00:00.000007999Z"',
        lambda r: r["create_time"] >= T0 + timedelta(hours=3, microseconds=7),
    ),
    ('valid_from >= "2026-02-01"', lambda r: r["valid_from"] >= date(2026, 2, 1)),
    ('valid_from = "2026-01-15"', lambda r: r["valid_from"] == date(2026, 1, 15)),
    (
        "is_active = true AND (region = WEST OR region = EAST) AND qty != 0",
        lambda r: (
            r["is_active"] and r["region"] in ("REGION_WEST", "REGION_EAST") and r["qty"] != 0
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_filter_matches_python_reference(
    db: Db, text: str, expected: Callable[[Row], bool]
) -> None:
    where = compile_filter(parse_filter(text), db.fields)
    assert where is not None
    got = await db.ids(sa.select(db.table.c.id).where(where))
    want = [row["id"] for row in db.rows if expected(row)]
    assert sorted(got) == sorted(want)


async def test_filter_by_uuid(db: Db) -> None:
    target = db.rows[17]["id"]
    for literal in (str(target), str(target).upper(), target.hex):
        where = compile_filter(parse_filter(f'id = "{literal}"'), db.fields)
        assert await db.ids(sa.select(db.table.c.id).where(where)) == [target]


async def test_every_row_name_matches_itself_literally(db: Db) -> None:
    """Equality and substring with each hostile name return exactly its rows."""
    for name in set(NAMES):
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for op, check in (("=", name.__eq__), (":", lambda n, s=name: low(s) in low(n))):
            where = compile_filter(parse_filter(f"name {op} {quoted}"), db.fields)
            got = await db.ids(sa.select(db.table.c.id).where(where))
            assert sorted(got) == sorted(r["id"] for r in db.rows if check(r["name"]))


def test_hostile_values_are_bound_parameters() -> None:
    table = make_table()
    where = compile_filter(
        parse_filter('name = "\'; DROP TABLE x; --" OR name:"%_"'), query_fields(table)
    )
    sql = str(sa.select(table.c.id).where(where))
    assert "DROP" not in sql and "%_" not in sql
    assert "ESCAPE" in sql and "lower" in sql


@pytest.mark.parametrize(
    ("text", "fragment", "position"),
    [
        ("nope = 1", "unknown field 'nope'", 0),
        ("qty = 1 OR nope.x = 1", "unknown field 'nope.x'", 11),
        ('is_active = "x"', "expected true or false", 12),
        ("is_active = 1", "expected true or false", 12),
        ('latitude > "abc"', "expected a number", 11),
        ("qty = 1.5", "expected an integer", 6),
        ("qty = true", "expected an integer", 6),
        ("qty = 99999999999", "32-bit range", 6),
        ("price > " + "9" * 60, "too many digits", 8),
        ("name = 5", "expected a quoted string", 7),
        ('create_time > "2026-13-01T00:00:00Z"', "RFC 3339", 14),
        ('create_time > "2026-01-01T00:00:00"', "RFC 3339", 14),
        ('create_time > "yesterday"', "RFC 3339", 14),
        ("create_time > 2026", "expected a quoted timestamp string", 14),
        ('create_time > "0001-01-01T00:00:00+05:00"', "RFC 3339", 14),
        ('valid_from = "2026-1-1"', "a date like", 13),
        ('valid_from = "2026-02-30"', "a date like", 13),
        ('id = "not-a-uuid"', "a UUID", 5),
        ("is_active < true", "operator < is not allowed", 0),
        ("region > WEST", "operator > is not allowed", 0),
        ('id >= "00000000-0000-0000-0000-000000000000"', "operator >= is not allowed", 0),
        ("region = MOON", "unknown value 'MOON'", 9),
    ],
)
def test_compile_errors_name_field_and_position(text: str, fragment: str, position: int) -> None:
    with pytest.raises(InvalidArgument) as info:
        compile_filter(parse_filter(text), query_fields(make_table()))
    error = info.value
    assert error.reason == "INVALID_FILTER"
    assert fragment in error.message
    assert error.metadata["position"] == str(position)
    assert error.violations[0].field == "filter"


def test_no_filter_compiles_to_none() -> None:
    assert compile_filter(None, query_fields(make_table())) is None


def test_a_filter_is_built_once_per_field_set_and_text() -> None:
    fields, others = query_fields(make_table()), query_fields(make_table())
    first = filter_condition('name = "Wheat" AND qty > 2', fields)
    assert filter_condition('name = "Wheat" AND qty > 2', fields) is first
    assert filter_condition('name = "Wheat" AND qty > 2', others) is not first
    assert str(filter_condition("qty > 2", fields)) != str(first)
    assert filter_condition("", fields) is None
    for _ in range(2):  # a bad filter is refused every time, never remembered as good
        with pytest.raises(InvalidArgument):
            filter_condition("nonsense > 1", fields)


def test_remembered_filters_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(query, "_FILTERS", Remembered(3))
    fields = query_fields(make_table())
    for quantity in range(10):
        filter_condition(f"qty > {quantity}", fields)
    assert len(query._FILTERS) == 3


def test_orm_attributes_work_as_columns() -> None:
    table = make_table()

    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __table__ = table

    fields = {
        "qty": QueryField(Item.qty, FieldKind.INTEGER),
        "latitude": QueryField(Item.latitude, FieldKind.DECIMAL),
    }
    where = compile_filter(parse_filter("qty = 3 AND NOT latitude > 1"), fields)
    assert "IS NOT NULL" in str(where)  # nullable column seen through the attribute
    assert "qty IS NOT NULL" not in str(where)
    keys = sort_keys([OrderTerm("qty", True)], fields, Item.id)
    assert [(k.name, k.kind, k.descending) for k in keys] == [
        ("qty", FieldKind.INTEGER, True),
        ("id", FieldKind.UUID, True),
    ]
    item = Item(id=uuid.UUID(int=5), qty=3)
    assert key_values(item, keys) == [3, uuid.UUID(int=5)]


# ------------------------------------------------------------------ ordering & keyset paging

ORDERS = [
    "",
    "name",
    "name desc",
    "qty",
    "qty desc",
    "qty, create_time desc",
    "qty desc, create_time",
    "region desc, qty, name desc",
    "is_active, price desc",
    "is_active desc, valid_from, code desc",
    "create_time desc, region",
    "id desc",
    "code, id",
]
SORTABLE = [
    "name",
    "code",
    "qty",
    "price",
    "is_active",
    "region",
    "create_time",
    "valid_from",
    "id",
]


def python_order(rows: list[Row], terms: list[OrderTerm]) -> list[uuid.UUID]:
    """Reference order built from stable sorts, last key first; id breaks ties."""
    ordered = list(rows)
    keys = [*terms, OrderTerm("id", terms[-1].descending if terms else False)]
    for term in reversed(keys):
        ordered.sort(key=lambda r, f=term.field: r[f], reverse=term.descending)
    return [row["id"] for row in ordered]


async def page_through(
    db: Db, terms: list[OrderTerm], filter_text: str, page_size: int
) -> list[uuid.UUID]:
    """What a client sees following next_page_token to the end."""
    c = db.table.c
    keys = sort_keys(terms, db.fields, c.id)
    fingerprint = query_fingerprint(filter_text, repr(terms))
    where = compile_filter(parse_filter(filter_text), db.fields)
    seen: list[uuid.UUID] = []
    token = ""
    async with db.engine.connect() as conn:
        for _ in range(len(db.rows) + 2):
            statement = sa.select(db.table).order_by(*build_order(terms, db.fields, c.id))
            if where is not None:
                statement = statement.where(where)
            params: dict[str, Any] = {}
            if token:
                values = decode_page_token(token, fingerprint, [k.kind for k in keys])
                statement = statement.where(keyset_after(terms, db.fields, c.id))
                params = keyset_params(terms, db.fields, c.id, values)
            rows = (await conn.execute(statement.limit(page_size + 1), params)).all()
            seen.extend(row.id for row in rows[:page_size])
            if len(rows) <= page_size:
                return seen
            token = encode_page_token(key_values(rows[page_size - 1], keys), fingerprint)
    raise AssertionError("paging did not terminate")


@pytest.mark.parametrize("order_by", ORDERS)
@pytest.mark.parametrize(
    ("filter_text", "page_size"), [("", 7), ("qty > 2 AND is_active = true", 5)]
)
async def test_keyset_paging_visits_every_row_once_in_order(
    db: Db, order_by: str, filter_text: str, page_size: int
) -> None:
    terms = parse_order_by(order_by, SORTABLE)
    where = compile_filter(parse_filter(filter_text), db.fields)
    full = sa.select(db.table.c.id).order_by(*build_order(terms, db.fields, db.table.c.id))
    expected = await db.ids(full if where is None else full.where(where))
    assert len(expected) == len({*expected}) > 0
    assert await page_through(db, terms, filter_text, page_size) == expected
    if not any(t.field == "name" for t in terms):  # string collation may differ from Python's
        python = [i for i in python_order(db.rows, terms) if i in set(expected)]
        assert expected == python


async def test_page_size_one_and_whole_table(db: Db) -> None:
    terms = [OrderTerm("qty", True), OrderTerm("create_time")]
    everything = await page_through(db, terms, "", 1000)
    assert await page_through(db, terms, "", 1) == everything
    assert len(everything) == len(db.rows)


def test_id_tiebreaker_follows_last_direction_and_is_not_repeated() -> None:
    table = make_table()
    fields = query_fields(table)
    keys = sort_keys([OrderTerm("qty"), OrderTerm("name", True)], fields, table.c.id)
    assert [(k.name, k.descending) for k in keys] == [("qty", False), ("name", True), ("id", True)]
    assert [k.name for k in sort_keys([], fields, table.c.id)] == ["id"]
    assert [k.name for k in sort_keys([OrderTerm("id"), OrderTerm("qty")], fields, table.c.id)] == [
        "id",
        "qty",
    ]
    assert len(build_order([OrderTerm("qty")], fields, table.c.id)) == 2


def test_keyset_rejects_wrong_shape_values() -> None:
    table = make_table()
    fields = query_fields(table)
    terms = [OrderTerm("create_time")]
    for values in (
        [T0],
        [T0, uuid.uuid4(), 3],
        ["2026", uuid.uuid4()],
        [T0, "x"],
        [Decimal("NaN"), uuid.uuid4()],
    ):
        with pytest.raises(InvalidArgument) as info:
            keyset_params(
                terms if values[0] != Decimal("NaN") else [OrderTerm("price")],
                fields,
                table.c.id,
                values,
            )
        assert info.value.violations[0].field == "page_token"


# ------------------------------------------------------------------ page tokens

KINDS = [
    FieldKind.STRING,
    FieldKind.INTEGER,
    FieldKind.DECIMAL,
    FieldKind.BOOLEAN,
    FieldKind.TIMESTAMP,
    FieldKind.DATE,
    FieldKind.ENUM,
    FieldKind.UUID,
]


def test_token_round_trip_for_every_kind() -> None:
    aware = datetime(2026, 3, 4, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    values = [
        "O'Brien ☃ \\ %",
        -(2**63),
        Decimal("12.3400"),
        True,
        aware,
        date(2026, 2, 28),
        "REGION_WEST",
        uuid.uuid4(),
    ]
    fingerprint = query_fingerprint("qty > 1", "name desc", "False", "")
    token = encode_page_token(values, fingerprint)
    assert token.isascii() and "=" not in token and "+" not in token and "/" not in token
    decoded = decode_page_token(token, fingerprint, KINDS)
    assert decoded == values
    assert decoded[4].tzinfo == UTC and decoded[4] == aware


def test_naive_timestamps_from_sqlite_are_read_as_utc() -> None:
    naive = datetime(2026, 1, 1, 6, 0, 0, 7)
    [decoded] = decode_page_token(encode_page_token([naive], "f"), "f", [FieldKind.TIMESTAMP])
    assert decoded == naive.replace(tzinfo=UTC)


def test_float_values_round_trip_exactly() -> None:
    [decoded] = decode_page_token(encode_page_token([0.1 + 0.2], "f"), "f", [FieldKind.DECIMAL])
    assert float(decoded) == 0.1 + 0.2


def page_token_error(
    token: str, fingerprint: str = "f", kinds: list[FieldKind] | None = None
) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        decode_page_token(token, fingerprint, kinds if kinds is not None else [FieldKind.INTEGER])
    assert info.value.reason == "INVALID_PAGE_TOKEN"
    assert [v.field for v in info.value.violations] == ["page_token"]
    return info.value


def test_token_from_another_query_is_refused() -> None:
    token = encode_page_token([1], query_fingerprint("qty > 1", "", "False", ""))
    for other in (
        query_fingerprint("qty > 2", "", "False", ""),
        query_fingerprint("qty > 1", "", "True", ""),
    ):
        assert "different filter" in page_token_error(token, other).message


def test_fingerprint_separates_parts() -> None:
    assert query_fingerprint("a", "b") != query_fingerprint("ab", "")
    assert query_fingerprint("a", "b") == query_fingerprint("a", "b")


def test_tampered_and_malformed_tokens_are_refused() -> None:
    token = encode_page_token([41], "f")
    body = json.loads(base64.urlsafe_b64decode(token + "=="))
    body["v"] = [42]
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
    for bad in (
        forged,
        token[:-2],
        token + "x",
        "!!!",
        "",
        "e30",
        "W10",
        "bnVsbA",
        "x" * 5000,
        "[" * 3000,
    ):
        page_token_error(bad)
    page_token_error(token, kinds=[FieldKind.INTEGER, FieldKind.UUID])  # wrong arity
    page_token_error(encode_page_token(["x"], "f"))  # wrong type
    page_token_error(encode_page_token([True], "f"))  # bool is not an integer
    page_token_error(encode_page_token(["2026-13-01"], "f"), kinds=[FieldKind.DATE])
    page_token_error(encode_page_token(["nope"], "f"), kinds=[FieldKind.UUID])
    page_token_error(encode_page_token(["1e"], "f"), kinds=[FieldKind.DECIMAL])


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_tokens_fail_cleanly(token: str) -> None:
    try:
        decode_page_token(token, "f", KINDS)
    except InvalidArgument as error:
        assert error.reason == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize(
    ("requested", "size"),
    [(0, 50), (1, 1), (50, 50), (999, 999), (1000, 1000), (1001, 1000), (10**9, 1000)],
)
def test_clamp_page_size(requested: int, size: int) -> None:
    assert clamp_page_size(requested) == size


def test_negative_page_size_is_invalid() -> None:
    with pytest.raises(InvalidArgument) as info:
        clamp_page_size(-1)
    assert info.value.violations[0].field == "page_size"
    assert clamp_page_size(0, default=20, maximum=100) == 20
