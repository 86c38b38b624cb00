"""Incremental CSV: bytes in any pieces in, complete records out, in bounded memory.

Why not one csv.reader over the whole upload: an upload arrives as chunks split
anywhere, even inside a UTF-8 character or a quoted field, and must not be
buffered whole. An incremental UTF-8 decoder handles split characters; a record
is complete at a newline when the number of quote characters since it began is
even (RFC 4180 escapes a quote by doubling it, so quotes inside quoted fields
come in pairs). Only complete records reach csv.reader, which keeps its exact
handling of quoted commas, newlines and CRLF. What is held between pieces is at
most one unfinished record, capped at `max_record_chars`.

The delimiter is the one of `,` `;` and tab that the header line (the first line
that is not blank) holds most often outside quotes: spreadsheets in locales with a
decimal comma save "CSV" with semicolons.
"""

from __future__ import annotations

import codecs
import csv
import re

from masterdata.server.domain.errors import FieldViolation, InvalidArgument

_BOM = "\ufeff"
_DELIMITERS = (",", ";", "\t")
_QUOTED = re.compile(r'"[^"]*"?')


def unreadable(source: str, description: str, reason: str = "UNREADABLE_FILE") -> InvalidArgument:
    """INVALID_ARGUMENT for input that is not a file we can read."""
    return InvalidArgument(
        f"the file cannot be read: {description}",
        violations=[FieldViolation(source, description, reason)],
    )


class CsvRecords:
    """Feeds bytes, returns the records completed so far (lists of cell strings)."""

    def __init__(self, source: str, *, max_record_chars: int = 1 << 20) -> None:
        self.source = source
        self.max_record_chars = max_record_chars
        self.bytes_read = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._partial = ""
        self._pending: list[str] = []
        self._pending_chars = 0
        self._open_quote = False
        self._started = False
        self._delimiter: str | None = None

    def feed(self, data: bytes) -> list[list[str]]:
        """The records that `data` completes, in file order."""
        text = self._decode(data, final=False)
        self.bytes_read += len(data)
        if not text:
            return []
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        complete: list[str] = []
        for line in lines:
            self._pending.append(line + "\n")
            self._pending_chars += len(line) + 1
            if line.count('"') & 1:
                self._open_quote = not self._open_quote
            if not self._open_quote:
                complete.extend(self._pending)
                self._pending.clear()
                self._pending_chars = 0
        if self._pending_chars + len(self._partial) > self.max_record_chars:
            raise unreadable(
                self.source,
                f"a record is longer than {self.max_record_chars} characters "
                "(an unterminated quote?)",
                "RECORD_TOO_LONG",
            )
        return self._parse(complete)

    def finish(self) -> list[list[str]]:
        """The last records, once the input has ended."""
        tail = self._decode(b"", final=True)
        rest = [*self._pending, self._partial + tail]
        self._pending, self._partial = [], ""
        return self._parse([line for line in rest if line])

    def _decode(self, data: bytes, *, final: bool) -> str:
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as error:
            offset = self.bytes_read + error.start
            raise unreadable(
                self.source, f"not UTF-8 (invalid byte at offset {offset})", "NOT_UTF8"
            ) from None
        if not self._started and text:
            self._started = True
            text = text.removeprefix(_BOM)
        return text

    def _parse(self, lines: list[str]) -> list[list[str]]:
        if not lines:
            return []
        if self._delimiter is None:
            self._delimiter = sniff_delimiter(lines)
        try:
            return list(csv.reader(lines, delimiter=self._delimiter or ",", strict=False))
        except csv.Error as error:
            raise unreadable(self.source, f"malformed CSV ({error})") from None


def sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter of the first non-blank line (None while there is none)."""
    for line in lines:
        if line.strip():
            unquoted = _QUOTED.sub("", line)
            return max(_DELIMITERS, key=unquoted.count)  # the first (",") on a tie
    return None
