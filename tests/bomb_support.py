"""Zip bombs shaped as XLSX workbooks, and the process's peak memory around a call.

The test servers run in the test process, so the process's peak RSS is the server's.
"""

from __future__ import annotations

import contextlib
import io
import resource
import struct
import zipfile
from collections.abc import Iterator

from openpyxl import Workbook

MIB = 1024 * 1024
SHEET = "xl/worksheets/sheet1.xml"
#: A sheet of one inline-string cell: what a reader must hold whole to parse it.
_CELL_OPEN = (
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns='
    b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
)
_CELL_CLOSE = b"</t></is></c></row></sheetData></worksheet>"


def workbook_bomb(part: str = SHEET, expanded_mib: int = 256, *, lie: bool = False) -> bytes:
    """A real workbook whose `part` is `expanded_mib` MiB of one cell, deflated (~1000:1).

    With `lie`, the ZIP declares that part as 100 bytes long (central directory and
    local header), as a bomb that hopes its sizes are believed would.
    """
    book = Workbook()
    book.active.append(["Name", "Category"])
    honest = io.BytesIO()
    book.save(honest)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(honest) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb,
    ):
        for info in source.infolist():
            if info.filename != part:
                bomb.writestr(info.filename, source.read(info.filename))
                continue
            with bomb.open(part, "w") as member:  # streamed: the test holds ~1 MiB of it
                member.write(_CELL_OPEN)
                filler = b"A" * MIB
                for _ in range(expanded_mib):
                    member.write(filler)
                member.write(_CELL_CLOSE)
    data = out.getvalue()
    return _declare_size(data, part, 100) if lie else data


def _declare_size(data: bytes, part: str, size: int) -> bytes:
    """`data` with `part`'s uncompressed size rewritten in both of its ZIP headers."""
    patched = bytearray(data)
    name = part.encode()
    at = patched.find(b"PK\x01\x02")
    while at != -1:
        length = struct.unpack_from("<H", patched, at + 28)[0]
        if patched[at + 46 : at + 46 + length] == name:
            struct.pack_into("<I", patched, at + 24, size)
            local = struct.unpack_from("<I", patched, at + 42)[0]
            struct.pack_into("<I", patched, local + 22, size)
            return bytes(patched)
        at = patched.find(b"PK\x01\x02", at + 4)
    raise LookupError(part)


def _status_mib(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise LookupError(key)


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # Linux: VmHWM := VmRSS
    except OSError:
        return False
    return True


@contextlib.contextmanager
def peak_memory_growth() -> Iterator[list[float]]:
    """Yields a list that receives how many MiB the peak RSS rose above the RSS at entry.

    Linux resets the peak (VmHWM) on writing 5 to /proc/self/clear_refs; where that
    cannot be done the lifetime peak (ru_maxrss) is compared, which shows only a new
    record.
    """
    growth: list[float] = []
    resettable = _reset_peak()
    before = _status_mib("VmRSS") if resettable else _max_rss_mib()
    yield growth
    growth.append((_status_mib("VmHWM") if resettable else _max_rss_mib()) - before)
