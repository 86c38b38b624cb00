"""Text in a worksheet cell: the `_xHHHH_` escapes of OOXML, both ways.

XML 1.0 cannot hold most control characters (ESC, BEL, ...), so Excel writes
each as `_xHHHH_` (its code in hex), and a literal `_xHHHH_` in the text as
`_x005F_xHHHH_` (the underscore escaped), so that reading undoes exactly what
writing did. openpyxl does neither for cell values: the export escapes and the
XLSX import unescapes here, and an export re-imported keeps every character.
"""

from __future__ import annotations

import re

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

_ESCAPE = re.compile(r"_x[0-9A-Fa-f]{4}_")
_LITERAL = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")


def _code(match: re.Match[str]) -> str:
    return f"_x{ord(match.group()):04X}_"


def _char(match: re.Match[str]) -> str:
    return chr(int(match.group()[2:6], 16))


def escape(text: str) -> str:
    """`text` as a cell holds it: literal escapes guarded, forbidden characters escaped."""
    if "_x" in text:
        text = _LITERAL.sub("_x005F_", text)
    if ILLEGAL_CHARACTERS_RE.search(text):
        text = ILLEGAL_CHARACTERS_RE.sub(_code, text)
    return text


def unescape(text: str) -> str:
    """A cell's text as written: every `_xHHHH_` is the character it names."""
    if "_x" not in text:
        return text
    return _ESCAPE.sub(_char, text)
