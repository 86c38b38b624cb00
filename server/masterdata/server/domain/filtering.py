"""Parser for the AIP-160 filter subset of List requests.

Grammar (keywords are case-sensitive, whitespace is insignificant)::

    expr       := or
    or         := and ("OR" and)*
    and        := unary ("AND" unary)*
    unary      := "NOT" unary | "-" unary | "(" or ")" | comparison
    comparison := FIELD OP VALUE        OP := = != < <= > >= :
    VALUE      := "str" | 'str' | -?123 | -?1.5 | true | false | IDENTIFIER

The parser is pure: it knows nothing about columns. Every problem in any input
string becomes `InvalidArgument` naming the 0-based position, never another
exception, so the API layer can hand the text straight from the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from masterdata.server.domain.errors import FieldViolation, InvalidArgument

MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 32
MAX_COMPARISONS = 64

#: A field path (and a bare identifier value): `name`, `address.city`, `REGION_WEST`.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_OPERATORS = ("<=", ">=", "!=", "=", "<", ">", ":")  # two-character operators first
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True)
class Identifier:
    """A bare word value such as `REGION_WEST`, kept apart from quoted strings."""

    name: str


Value = str | int | Decimal | bool | Identifier


@dataclass(frozen=True)
class Comparison:
    """`field op value`; positions point into the filter text for error messages."""

    field: str
    op: str
    value: Value
    position: int
    value_position: int | None = None


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison | And | Or | Not


def filter_error(description: str, position: int) -> InvalidArgument:
    """The one shape of a bad-filter error, shared with the SQL compiler."""
    detail = f"{description} at position {position}"
    return InvalidArgument(
        f"invalid filter: {detail}",
        violations=[FieldViolation("filter", detail, "INVALID_FILTER")],
        reason="INVALID_FILTER",
        metadata={"position": str(position)},
    )


def parse_filter(text: str | None) -> Node | None:
    """Parse `text` into an AST; None for an empty filter; InvalidArgument otherwise."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise filter_error(
            f"filter is longer than {MAX_FILTER_LENGTH} characters", MAX_FILTER_LENGTH
        )
    for index, char in enumerate(text):
        # PostgreSQL text cannot hold NUL and UTF-8 cannot hold lone surrogates.
        if char == "\x00" or "\ud800" <= char <= "\udfff":
            raise filter_error(f"character {char!r} is not allowed", index)
    return _Parser(text).parse()


class _Parser:
    """Recursive descent over the raw text; `depth` bounds the recursion."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.comparisons = 0

    def parse(self) -> Node:
        node = self._or()
        self._skip_space()
        if self.pos < len(self.text):
            if self.text[self.pos] == ")":
                raise filter_error("unbalanced ')'", self.pos)
            raise filter_error("expected AND, OR or the end of the filter", self.pos)
        return node

    def _skip_space(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        self.pos = pos

    def _keyword(self, word: str) -> bool:
        """Consume `word` if it is the next whole identifier."""
        self._skip_space()
        match = NAME_PATTERN.match(self.text, self.pos)
        if match is None or match.group() != word:
            return False
        self.pos = match.end()
        return True

    def _or(self) -> Node:
        items = [self._and()]
        while self._keyword("OR"):
            items.append(self._and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and(self) -> Node:
        items = [self._unary()]
        while self._keyword("AND"):
            items.append(self._unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _enter(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise filter_error(f"filter is nested deeper than {MAX_DEPTH} levels", position)

    def _unary(self) -> Node:
        self._skip_space()
        start = self.pos
        if start >= len(self.text):
            raise filter_error("expected a comparison, found the end of the filter", start)
        char = self.text[start]
        if char == "(":
            self._enter(start)
            self.pos += 1
            node = self._or()
            self._skip_space()
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                raise filter_error(f"expected ')' matching the '(' at offset {start}", self.pos)
            self.pos += 1
        elif char == "-" or self._keyword("NOT"):
            self._enter(start)
            self.pos += 1 if char == "-" else 0
            node = Not(self._unary())
        else:
            return self._comparison()
        self.depth -= 1
        return node

    def _comparison(self) -> Comparison:
        start = self.pos
        match = NAME_PATTERN.match(self.text, start)
        if match is None or match.group() in _KEYWORDS:
            raise filter_error("expected a field name", start)
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise filter_error(f"filter has more than {MAX_COMPARISONS} comparisons", start)
        self.pos = match.end()
        self._skip_space()
        op = next((o for o in _OPERATORS if self.text.startswith(o, self.pos)), None)
        if op is None:
            raise filter_error("expected one of = != < <= > >= :", self.pos)
        self.pos += len(op)
        self._skip_space()
        value_position = self.pos
        value = self._value()
        return Comparison(match.group(), op, value, start, value_position)

    def _value(self) -> Value:
        start = self.pos
        char = self.text[start] if start < len(self.text) else ""
        if char in ("'", '"'):
            return self._string(char)
        if char == "-" or (char.isascii() and char.isdigit()):
            return self._number()
        match = NAME_PATTERN.match(self.text, start)
        if match is None:
            found = repr(char) if char else "the end of the filter"
            raise filter_error(f"expected a value, found {found}", start)
        word = match.group()
        if word in _KEYWORDS:
            raise filter_error(f"expected a value, found keyword {word}", start)
        self.pos = match.end()
        if word in ("true", "false"):
            return word == "true"
        return Identifier(word)

    def _number(self) -> int | Decimal:
        start = self.pos
        match = _NUMBER.match(self.text, start)
        end = match.end() if match else start
        if match is None or (end < len(self.text) and self.text[end] in _IDENT_CHARS):
            raise filter_error("malformed number", start)
        self.pos = end
        literal = match.group()
        if "." in literal:
            return Decimal(literal)
        try:
            return int(literal)
        except ValueError:  # beyond sys.get_int_max_str_digits()
            raise filter_error("number is too long", start) from None

    def _string(self, quote: str) -> str:
        start = self.pos
        text, pos = self.text, start + 1
        out: list[str] = []
        while pos < len(text):
            char = text[pos]
            if char == quote:
                self.pos = pos + 1
                return "".join(out)
            if char == "\\":
                escaped = _ESCAPES.get(text[pos + 1 : pos + 2])
                if escaped is None:
                    raise filter_error("invalid escape sequence in string", pos)
                out.append(escaped)
                pos += 2
                continue
            out.append(char)
            pos += 1
        raise filter_error(f"unterminated string starting with {quote}", start)
