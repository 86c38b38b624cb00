"""How far a ZIP (an XLSX workbook) expands, found out in bounded memory before it is opened.

A few hundred KB of deflate can hold gigabytes, so a workbook is refused when its
parts add up to more than a bound (XLSX_TOO_LARGE), before openpyxl reads any.

Why the central directory's sizes are not trusted alone: zipfile cuts each part at
its declared size, but only after decompressing what it was asked for, and openpyxl
reads some parts whole (workbook.xml, styles) - one call that expands a lying part
completely. So every part is inflated here once, a slice at a time, counting what
comes out and stopping as soon as a part passes its declared size (a damaged or
lying archive) or the total passes the bound. Memory: one slice. CPU: one inflation
of at most `max_bytes`, which openpyxl repeats anyway.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from masterdata.server.bulk.csv_input import unreadable
from masterdata.server.domain.errors import FieldViolation, InvalidArgument

#: Most parts of a workbook (Excel writes a few dozen). Opening a ZIP makes an object
#: per part (~0.5 KB), so a small file of millions of empty parts is refused first.
MAX_PARTS = 10_000
#: Bytes inflated at a time.
SLICE = 1 << 16
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # the ones XLSX writers use


def too_large(source: str, max_bytes: int) -> InvalidArgument:
    description = f"expands to more than {max_bytes} bytes uncompressed"
    return InvalidArgument(
        f"the workbook {description}",
        violations=[FieldViolation(source, description, "XLSX_TOO_LARGE")],
        metadata={"max_expanded_bytes": str(max_bytes)},
    )


def check_expansion(data: bytes, max_bytes: int, source: str) -> None:
    """INVALID_ARGUMENT unless the ZIP `data` expands to at most `max_bytes`, honestly."""
    if data.count(_CENTRAL_SIGNATURE) > MAX_PARTS:  # an upper bound of the parts, in C
        raise too_large(source, max_bytes)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, struct.error):
        raise unreadable(source, "not an XLSX workbook") from None
    if sum(part.file_size for part in parts) > max_bytes:
        raise too_large(source, max_bytes)
    total = 0
    for part in parts:
        total += _inflated_size(data, part, source)
        if total > max_bytes:
            raise too_large(source, max_bytes)


def _inflated_size(data: bytes, part: zipfile.ZipInfo, source: str) -> int:
    """The bytes `part` really expands to; a part that passes its declared size is refused."""
    if part.compress_type not in _METHODS:
        raise unreadable(source, f"not an XLSX workbook (compression method {part.compress_type})")
    start = _data_offset(data, part.header_offset, source)
    packed = memoryview(data)[start : start + part.compress_size]
    if part.compress_type == zipfile.ZIP_STORED:
        return len(packed)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as in ZIP
    size = 0
    try:
        # Input and output both a slice at a time: unconsumed input is copied on each
        # call, so feeding the whole part would copy it once per output slice.
        for offset in range(0, len(packed), SLICE):
            pending: bytes | memoryview = packed[offset : offset + SLICE]
            while pending and not inflater.eof:
                size += len(inflater.decompress(pending, SLICE))
                if size > part.file_size:
                    raise unreadable(
                        source, f"a damaged workbook ({part.filename!r} is longer than declared)"
                    )
                pending = inflater.unconsumed_tail
            if inflater.eof:
                break
        size += len(inflater.flush())
    except zlib.error:
        raise unreadable(source, f"a damaged workbook ({part.filename!r})") from None
    return size


def _data_offset(data: bytes, header_offset: int, source: str) -> int:
    try:
        signature, name, extra = _LOCAL_HEADER.unpack_from(data, header_offset)
    except struct.error:
        signature = b""
    if signature != b"PK\x03\x04":
        raise unreadable(source, "not an XLSX workbook (a damaged ZIP header)")
    return header_offset + _LOCAL_HEADER.size + int(name) + int(extra)
