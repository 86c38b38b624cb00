"""`masterdata import commodities`, `export commodities` and `template` as subprocesses.

Import exit codes: 0 every row accepted, 3 the import ran but rejected rows (listed
in FILE.errors.csv), 1 the call failed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_support import ROWS_REJECTED, cli, ok, sqlite_server, unique
from openpyxl import load_workbook
from processes import ServerProcess

HEADER = ["name", "category", "gst_rate", "base_unit"]


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    async with sqlite_server(tmp_path_factory) as process:
        yield process


def write_csv(path: Path, rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows([header, *rows])
    return path


async def test_import_with_row_errors(server: ServerProcess, tmp_path: Path) -> None:
    category = unique("Pulses")
    good = [[unique("Chana"), category, "5", "KG"] for _ in range(3)]
    bad = [["", category, "5", "KG"], [unique("Urad"), category, "150", "KG"]]
    path = write_csv(tmp_path / "pulses.csv", [good[0], bad[0], good[1], bad[1], good[2]])
    result = await cli(server, "import", "commodities", str(path), "--batch-size", "2")
    assert result.returncode == ROWS_REJECTED, result
    # progress on stderr (one line per server batch when not a terminal), summary on stdout
    assert "importing pulses.csv: 2/5 rows read" in result.stderr
    assert "importing pulses.csv: 5/5 rows read, 3 created, 0 updated, 0 unchanged, 2 failed" in (
        result.stderr
    )
    summary = summary_counts(result.stdout)
    assert summary == {
        "rows read": "5",
        "created": "3",
        "updated": "0",
        "unchanged": "0",
        "failed": "2",
        "varieties created": "0",
        "varieties renamed": "0",
        "committed": "yes",
    }
    errors_file = tmp_path / "pulses.csv.errors.csv"
    assert f"2 rejected rows written to {errors_file}" in result.stdout
    rows = list(csv.DictReader(io.StringIO(errors_file.read_text())))
    assert [(r["row_number"], r["field"], r["reason"]) for r in rows] == [
        ("3", "name", "REQUIRED"),
        ("5", "gst_rate", "OUT_OF_RANGE"),
    ]
    assert all(r["message"] for r in rows)

    fixed = write_csv(path, good)  # the same file, now without the bad rows
    result = await cli(server, "import", "commodities", str(fixed), "--upsert", "--validate-only")
    assert ok(result) and summary_counts(result.stdout)["unchanged"] == "3"
    assert summary_counts(result.stdout)["committed"] == "no"
    assert not errors_file.exists(), "a clean run removes the stale errors file"


def summary_counts(out: str) -> dict[str, str]:
    """The import summary table as {label: value}."""
    cells = (line.strip("│┃ ").split("│") for line in out.splitlines() if "│" in line)
    counts = {label.strip(): value.strip() for label, value in (c for c in cells if len(c) == 2)}
    counts.pop("seconds", None)
    return counts


async def test_unknown_columns_warn_and_with_strict_fail(
    server: ServerProcess, tmp_path: Path
) -> None:
    category = unique("Spices")
    rows = [[unique("Jeera"), category, "5", "KG", "Bold;Medium", "x"]]
    path = write_csv(tmp_path / "spices.csv", rows, [*HEADER, "Varieties", "Grade"])
    refused = await cli(server, "import", "commodities", str(path), "--strict")
    assert refused.returncode == 1, refused
    assert "UNKNOWN_COLUMN" in refused.stderr and "'Grade'" in refused.stderr
    result = await cli(server, "import", "commodities", str(path))
    assert ok(result) and "warning:" in result.stdout and "Grade" in result.stdout
    counts = summary_counts(result.stdout)
    assert (counts["created"], counts["varieties created"]) == ("1", "2")


async def test_atomic_import_writes_nothing_when_a_row_fails(
    server: ServerProcess, tmp_path: Path
) -> None:
    category = unique("Oilseeds")
    path = write_csv(tmp_path / "seeds.csv", [[unique("Soy"), category, "5", "KG"], ["", category]])
    result = await cli(server, "import", "commodities", str(path), "--atomic")
    assert result.returncode == ROWS_REJECTED, result
    assert summary_counts(result.stdout)["committed"] == "no"
    listed = ok(
        await cli(server, "list", "commodity", "--filter", f'category = "{category}"', "--json")
    )
    assert json.loads(listed) == {}


async def test_export_csv_and_xlsx(server: ServerProcess, tmp_path: Path) -> None:
    category = unique("Spices")
    names = sorted(unique(n) for n in ("Cumin", "Turmeric"))
    ok(
        await cli(
            server,
            "import",
            "commodities",
            str(write_csv(tmp_path / "in.csv", [[n, category, "5", "KG"] for n in names])),
        )
    )
    where = f'category = "{category}"'
    out = ok(
        await cli(
            server, "export", "commodities", "--filter", where, "-o", "spices.csv", cwd=tmp_path
        )
    )
    assert "exported 2 commodities to spices.csv" in out
    exported = list(csv.DictReader(io.StringIO((tmp_path / "spices.csv").read_text("utf-8-sig"))))
    assert sorted(row["Name"] for row in exported) == names
    out = ok(
        await cli(
            server,
            "export",
            "commodities",
            "--filter",
            where,
            "--with-varieties",
            "-o",
            str(tmp_path / "spices.xlsx"),
        )
    )
    assert "exported 2 commodities" in out
    sheet = load_workbook(tmp_path / "spices.xlsx", read_only=True).worksheets[0]
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert "Name" in header and any("arieties" in str(cell) for cell in header)
    assert sorted(row[header.index("Name")] for row in rows) == names


async def test_template_csv_and_xlsx(server: ServerProcess, tmp_path: Path) -> None:
    out = ok(await cli(server, "template", "-o", str(tmp_path / "t.csv")))
    assert "text/csv" in out
    assert (tmp_path / "t.csv").read_text("utf-8-sig").startswith("ID,Name,Category")
    out = ok(await cli(server, "template", "--format", "xlsx", cwd=tmp_path))
    assert out.startswith("wrote commodities_template.xlsx ")  # the name the server suggests
    written = tmp_path / "commodities_template.xlsx"
    assert load_workbook(written, read_only=True).worksheets[0]["B1"].value == "Name"
