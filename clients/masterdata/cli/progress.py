"""Progress of imports and exports on stderr: a live rich bar on a terminal, lines otherwise.

A log file or CI output gets one plain line per server batch instead of the
terminal control codes a bar would leave there.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from masterdata.cli.output import console


class Counts(Protocol):
    """What an SDK ImportProgress carries (read-only: it is a frozen dataclass)."""

    @property
    def rows_read(self) -> int: ...
    @property
    def created(self) -> int: ...
    @property
    def updated(self) -> int: ...
    @property
    def unchanged(self) -> int: ...
    @property
    def failed(self) -> int: ...


def count_rows(path: Path) -> int | None:
    """Data rows of a CSV or XLSX file (header excluded), for the bar's total.

    None (a bar without a total) for an XLSX file when openpyxl, of the `xlsx` extra, is
    not installed: the import itself does not need it.
    """
    if path.suffix.lower() == ".xlsx":
        if importlib.util.find_spec("openpyxl") is None:
            return None
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        try:
            rows = workbook.worksheets[0].max_row
        finally:
            workbook.close()
        return max(rows - 1, 0) if rows else None
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as file:
        records = sum(1 for row in csv.reader(file) if row and not row[0].startswith("#"))
    return max(records - 1, 0)


def describe(counts: Counts) -> str:
    return (
        f"{counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.failed} failed"
    )


class ProgressReport:
    """Context manager with `rows(counts)` for imports and `bytes(n, rows)` for exports."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self._stderr = console(stderr=True)
        self._live = sys.stderr.isatty()
        self._bar: Progress | None = None
        self._task: Any = None
        self._last: tuple[int, ...] = ()

    def __enter__(self) -> ProgressReport:
        if self._live:
            # Without a total (exports) a bar cannot fill: show the counts only.
            bar = (BarColumn(), MofNCompleteColumn()) if self.total is not None else ()
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                *bar,
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self._stderr,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, detail="")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def rows(self, counts: Counts) -> None:
        """After a server batch of an import (and once more with the summary)."""
        key = (counts.rows_read, counts.created, counts.updated, counts.unchanged, counts.failed)
        if key == self._last:
            return
        self._last = key
        if self._bar is not None:
            self._bar.update(self._task, completed=counts.rows_read, detail=describe(counts))
            return
        total = f"/{self.total}" if self.total is not None else ""
        print(
            f"{self.label}: {counts.rows_read}{total} rows read, {describe(counts)}",
            file=sys.stderr,
            flush=True,
        )

    def written(self, bytes_written: int, rows: int | None) -> None:
        """After a chunk of an export (rows are known for CSV only)."""
        detail = (f"{rows} rows, " if rows is not None else "") + f"{bytes_written:,} bytes"
        if self._bar is not None:
            self._bar.update(self._task, detail=detail)
            return
        print(f"{self.label}: {detail}", file=sys.stderr, flush=True)
