"""The filter and order_by parsers: grammar, positions, and hostile input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masterdata.server.domain.errors import InvalidArgument
from masterdata.server.domain.filtering import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    And,
    Comparison,
    Identifier,
    Node,
    Not,
    Or,
    parse_filter,
)
from masterdata.server.domain.ordering import OrderTerm, parse_order_by


def cmp(field: str, op: str, value: object) -> tuple[str, str, object]:
    return (field, op, value)


def shape(node: Node | None) -> object:
    """The AST without positions, so expectations stay readable."""
    if node is None or isinstance(node, Comparison):
        return node and cmp(node.field, node.op, node.value)
    if isinstance(node, Not):
        return ("NOT", shape(node.item))
    return (type(node).__name__.upper(), *(shape(item) for item in node.items))


def parse_error(text: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        parse_filter(text)
    error = info.value
    assert error.reason == "INVALID_FILTER"
    assert [v.field for v in error.violations] == ["filter"]
    assert error.violations[0].reason == "INVALID_FILTER"
    return error


def error_position(text: str) -> int:
    return int(parse_error(text).metadata["position"])


# ------------------------------------------------------------------ grammar


@pytest.mark.parametrize("text", [None, "", "   ", "\t\n "])
def test_empty_filter_is_no_filter(text: str | None) -> None:
    assert parse_filter(text) is None


def test_and_binds_tighter_than_or() -> None:
    assert shape(parse_filter("a = 1 OR b = 2 AND c = 3")) == (
        "OR",
        cmp("a", "=", 1),
        ("AND", cmp("b", "=", 2), cmp("c", "=", 3)),
    )


def test_parentheses_override_precedence() -> None:
    assert shape(parse_filter("(a = 1 OR b = 2) AND c = 3")) == (
        "AND",
        ("OR", cmp("a", "=", 1), cmp("b", "=", 2)),
        cmp("c", "=", 3),
    )


def test_chains_are_flattened() -> None:
    node = parse_filter("a=1 AND b=2 AND c=3")
    assert isinstance(node, And) and len(node.items) == 3
    node = parse_filter("a=1 OR b=2 OR c=3")
    assert isinstance(node, Or) and len(node.items) == 3


def test_not_and_minus_negate_the_next_unary() -> None:
    assert shape(parse_filter("NOT a = 1 AND b = 2")) == (
        "AND",
        ("NOT", cmp("a", "=", 1)),
        cmp("b", "=", 2),
    )
    assert shape(parse_filter("-(a = 1 OR b = 2)")) == (
        "NOT",
        ("OR", cmp("a", "=", 1), cmp("b", "=", 2)),
    )
    assert shape(parse_filter("NOT NOT a:x")) == ("NOT", ("NOT", cmp("a", ":", Identifier("x"))))
    assert shape(parse_filter("NOT(a=1)")) == ("NOT", cmp("a", "=", 1))


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">=", ":"])
def test_every_operator_with_and_without_spaces(op: str) -> None:
    assert shape(parse_filter(f"qty{op}5")) == cmp("qty", op, 5)
    assert shape(parse_filter(f"  qty  {op}  5  ")) == cmp("qty", op, 5)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"plain"', "plain"),
        ("'single'", "single"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'it\\'s'", "it's"),
        ('"back\\\\slash"', "back\\slash"),
        ('"tab\\tnew\\nline\\r"', "tab\tnew\nline\r"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ('""', ""),
        ('"AND OR NOT ( ) = :"', "AND OR NOT ( ) = :"),
        ('"ünïcødé ☃ 日本"', "ünïcødé ☃ 日本"),
        ("42", 42),
        ("-7", -7),
        ("0", 0),
        ("3.25", Decimal("3.25")),
        ("-0.50", Decimal("-0.50")),
        ("true", True),
        ("false", False),
        ("REGION_WEST", Identifier("REGION_WEST")),
        ("TRUE", Identifier("TRUE")),
        ("and", Identifier("and")),
        ("a.b", Identifier("a.b")),
    ],
)
def test_values(literal: str, value: object) -> None:
    node = parse_filter(f"f = {literal}")
    assert isinstance(node, Comparison)
    assert node.value == value
    assert type(node.value) is type(value)


def test_fields_may_be_dotted_paths() -> None:
    assert shape(parse_filter("address.city_2 = x")) == cmp("address.city_2", "=", Identifier("x"))


def test_positions_point_into_the_original_text() -> None:
    node = parse_filter("  name = 'x' OR  qty >= 10")
    assert isinstance(node, Or)
    first, second = node.items
    assert isinstance(first, Comparison) and isinstance(second, Comparison)
    assert (first.position, first.value_position) == (2, 9)
    assert (second.position, second.value_position) == (17, 24)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("name", 4),  # missing operator
        ("name =", 6),  # missing value
        ("name = 'x", 7),  # unterminated string, at its opening quote
        ('name = "x\\q"', 9),  # unknown escape
        ("(name = 1", 9),  # missing ')'
        ("name = 1)", 8),  # stray ')'
        ("name = 1 and qty = 2", 9),  # keywords are upper-case only
        ("name = 1 AND", 12),  # dangling AND
        ("OR name = 1", 0),
        ("name == 1", 6),
        ("name = 12abc", 7),
        ("name = 1.2.3", 7),
        ("name = - 1", 7),
        ("name = AND", 7),
        ("1name = 2", 0),
        ("name = 1; DROP TABLE x", 8),
        ("a = 1 b = 2", 6),
        ("a = @", 4),
        ("a = 'x' \x00", 8),
    ],
)
def test_errors_name_the_position(text: str, position: int) -> None:
    error = parse_error(text)
    assert int(error.metadata["position"]) == position
    assert f"at position {position}" in error.violations[0].description
    assert f"at position {position}" in error.message


# ------------------------------------------------------------------ limits


def test_depth_limit() -> None:
    ok = "(" * (MAX_DEPTH - 1) + "a = 1" + ")" * (MAX_DEPTH - 1)
    assert parse_filter(ok) is not None
    assert error_position("(" * (MAX_DEPTH + 1) + "a = 1" + ")" * (MAX_DEPTH + 1)) == MAX_DEPTH
    assert "nested" in parse_error("NOT " * (MAX_DEPTH + 1) + "a = 1").message
    assert "nested" in parse_error("-" * 1000 + "a = 1").message


def test_thousand_deep_parentheses_do_not_overflow_the_stack() -> None:
    assert "nested" in parse_error("(" * 1000 + "a = 1" + ")" * 1000).message
    parse_error("(" * 4000)


def test_comparison_limit() -> None:
    ok = " AND ".join(f"f{i} = {i}" for i in range(MAX_COMPARISONS))
    assert parse_filter(ok) is not None
    assert "comparisons" in parse_error(ok + " AND x = 1").message


def test_length_limit() -> None:
    value = "x" * (MAX_FILTER_LENGTH - 6)  # f = "...": exactly at the limit
    assert parse_filter(f'f = "{value}"') is not None
    assert error_position(f'f = "{value}x"') == MAX_FILTER_LENGTH
    parse_error("a = 1 OR " * 1200)  # ~10 KB


# ------------------------------------------------------------------ hostile input

HOSTILE = [
    "'; DROP TABLE locations; --",
    "name = '; DROP TABLE locations; --",
    "name = 1; DELETE FROM locations",
    "name = x UNION SELECT * FROM users",
    "name = SELECT",
    "name = NULL",
    "name = '",
    'name = "',
    'name = "\\',
    "(((",
    ")))",
    "()",
    "( )",
    "a = (1)",
    "AND",
    "NOT",
    "-",
    "--",
    "/* */ a = 1",
    "a = 1 -- comment",
    "a = %",
    "a = \\",
    "a = `x`",
    "\x00",
    "a = '\x00'",
    "a = '\ud800'",
    "名前 = 'x'",
    "a = ☃",
    "a\u00a0=\u20281",
    "a = 1" + "\x00" * 100,
    "x" * 10_000,
    "'" * 10_000,
    "(" * 10_000,
    "a = " + "9" * 4090,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_parses_or_fails_cleanly(text: str) -> None:
    try:
        parse_filter(text)
    except InvalidArgument as error:
        assert error.reason == "INVALID_FILTER"
        assert error.metadata["position"].isdigit()


def test_sql_in_values_stays_a_literal() -> None:
    node = parse_filter('name = "\'; DROP TABLE locations; --" OR name = SELECT')
    assert shape(node) == (
        "OR",
        cmp("name", "=", "'; DROP TABLE locations; --"),
        cmp("name", "=", Identifier("SELECT")),
    )


ALPHABET = st.sampled_from(
    [
        *"abcxyzAZ_.019 \t\n()\"'\\-=!<>:%;",
        "AND",
        " AND ",
        " OR ",
        "NOT ",
        "true",
        "false",
        "1.5",
        "\x00",
        "é",
        "☃",
    ]
)


def _check(text: str) -> None:
    try:
        parse_filter(text)
    except InvalidArgument as error:
        assert error.reason == "INVALID_FILTER"
        assert 0 <= int(error.metadata["position"]) <= max(len(text), MAX_FILTER_LENGTH)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_fuzz_arbitrary_text(text: str) -> None:
    _check(text)


@settings(max_examples=1500, deadline=None)
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_fuzz_grammar_alphabet(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 300), st.integers(0, 300), st.sampled_from(["(", "NOT ", "-", "( NOT "]))
def test_fuzz_deep_nesting(opening: int, closing: int, prefix: str) -> None:
    _check(prefix * opening + "a = 1" + ")" * closing)


@st.composite
def valid_filters(draw: st.DrawFn, depth: int = 0) -> str:
    """Generated sentences of the grammar; each must parse."""
    if depth > 3 or draw(st.booleans()):
        field = draw(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True))
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", ":"]))
        value = draw(
            st.one_of(
                st.integers(-(10**6), 10**6).map(str),
                st.sampled_from(["true", "false", "REGION_WEST", "1.25", "-0.5"]),
                st.text(
                    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8
                ).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
            )
        )
        return f"{field} {op} {value}"
    kind = draw(st.sampled_from(["AND", "OR", "NOT", "()"]))
    inner = draw(valid_filters(depth + 1))
    if kind == "NOT":
        return f"NOT {inner}"
    if kind == "()":
        return f"({inner})"
    return f"{inner} {kind} {draw(valid_filters(depth + 1))}"


@settings(max_examples=300, deadline=None)
@given(valid_filters())
def test_fuzz_valid_sentences_parse(text: str) -> None:
    try:
        assert parse_filter(text) is not None
    except InvalidArgument as error:  # only the size limits may refuse a valid sentence
        assert "comparisons" in error.message or "nested" in error.message


# ------------------------------------------------------------------ order_by

SORTABLE = {"name", "create_time", "qty", "address.city"}


def order_error(text: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        parse_order_by(text, SORTABLE)
    assert info.value.reason == "INVALID_ORDER_BY"
    assert [v.field for v in info.value.violations] == ["order_by"]
    return info.value


def test_order_by() -> None:
    assert parse_order_by("name desc, create_time", SORTABLE) == [
        OrderTerm("name", True),
        OrderTerm("create_time", False),
    ]
    assert parse_order_by("  qty   ASC ,name DeSc ", SORTABLE) == [
        OrderTerm("qty"),
        OrderTerm("name", True),
    ]
    assert parse_order_by("address.city", SORTABLE) == [OrderTerm("address.city")]
    assert parse_order_by("", SORTABLE) == []
    assert parse_order_by(None, SORTABLE) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("secret", "cannot sort by 'secret'"),
        ("name, name desc", "twice"),
        ("name,", "empty sort term at position 5"),
        (",name", "empty sort term at position 0"),
        ("name descending", "expected 'asc' or 'desc' at position 5"),
        ("name desc extra", "at position 10"),
        ("name;drop", "expected a field name"),
        ("name\x00", "expected a field name"),
        ("x" * 5000, "longer than"),
    ],
)
def test_bad_order_by(text: str, fragment: str) -> None:
    assert fragment in order_error(text).message


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_fuzz_order_by(text: str) -> None:
    try:
        terms = parse_order_by(text, SORTABLE)
    except InvalidArgument as error:
        assert error.reason == "INVALID_ORDER_BY"
    else:
        assert all(term.field in SORTABLE for term in terms)
