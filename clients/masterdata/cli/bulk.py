"""`masterdata import commodities`, `export commodities` and `template`.

An import that ran but rejected rows exits with ROWS_REJECTED (3), distinct from a
call that failed (1), so scripts can tell "fix some rows" from "nothing happened";
the rejected rows are in FILE.errors.csv, beside the file.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
from pathlib import Path

from masterdata.cli.connection import ROWS_REJECTED, Parsers, UsageError, client_command
from masterdata.cli.output import console, counts_table
from masterdata.cli.progress import ProgressReport, count_rows
from masterdata.client import Client
from masterdata.client.bulk import require_xlsx
from masterdata.v1 import commodity_pb2

FORMATS = ("csv", "xlsx")
ERROR_COLUMNS = ("row_number", "field", "reason", "message")


def register(commands: Parsers, connection: argparse.ArgumentParser) -> None:
    """Add import, export and template."""
    what = commands.add_parser(
        "import", help="import resources from a file", description="Import resources from a file."
    ).add_subparsers(dest="what", required=True, metavar="RESOURCE")
    imports = what.add_parser(
        "commodities",
        parents=[connection],
        help="import commodities from CSV or XLSX",
        description="Import commodities from a CSV or XLSX file with the template's header. "
        "Rejected rows are written to FILE.errors.csv. Exit code 0: every row accepted; "
        f"{ROWS_REJECTED}: the import ran but rejected rows; 1: the call failed.",
    )
    imports.add_argument("file", type=existing_file, metavar="FILE", help="a .csv or .xlsx file")
    imports.add_argument("--upsert", action="store_true", help="update matching commodities")
    imports.add_argument("--validate-only", action="store_true", help="check, write nothing")
    imports.add_argument("--atomic", action="store_true", help="all rows or none")
    imports.add_argument("--batch-size", type=int, metavar="N", help="rows per batch (1-5000)")
    imports.add_argument("--request-id", metavar="UUID", help="makes a retried import a no-op")
    imports.add_argument(
        "--strict", action="store_true", help="refuse a header naming no column (else a warning)"
    )
    imports.set_defaults(run=client_command(_import))

    what = commands.add_parser(
        "export", help="export resources to a file", description="Export resources to a file."
    ).add_subparsers(dest="what", required=True, metavar="RESOURCE")
    exports = what.add_parser(
        "commodities",
        parents=[connection],
        help="export commodities as CSV or XLSX",
        description="Export live commodities in the import format (re-importable with --upsert).",
    )
    exports.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    exports.add_argument("--format", choices=FORMATS, help="default: from FILE's suffix, else csv")
    exports.add_argument("--filter", default="", help="AIP-160 filter of ListCommodities")
    exports.add_argument("--with-varieties", action="store_true", help="add a varieties column")
    exports.set_defaults(run=client_command(_export))

    template = commands.add_parser(
        "template",
        parents=[connection],
        help="write the commodity import template",
        description="Write the commodity import template: header, an example row, instructions.",
    )
    template.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="default: the name the server suggests"
    )
    template.add_argument("--format", choices=FORMATS, help="default: from FILE's suffix, else csv")
    template.set_defaults(run=client_command(_template))


def existing_file(text: str) -> Path:
    """argparse type of an input file: a missing one is a usage error (exit 2)."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return path


def errors_path(path: Path) -> Path:
    """Where an import's rejected rows go: FILE.errors.csv beside FILE."""
    return path.with_name(path.name + ".errors.csv")


def write_errors(path: Path, errors: list[commodity_pb2.ImportRowError]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(ERROR_COLUMNS)
        writer.writerows((e.row_number, e.field, e.reason, e.message) for e in errors)


async def _import(client: Client, args: argparse.Namespace) -> int:
    path: Path = args.file
    total = await asyncio.to_thread(count_rows, path)
    with ProgressReport(f"importing {path.name}", total) as progress:
        result = await client.import_commodities(
            path,
            upsert=args.upsert,
            validate_only=args.validate_only,
            atomic=args.atomic,
            batch_size=args.batch_size,
            request_id=args.request_id,
            strict=args.strict,
            on_progress=progress.rows,
        )
    summary = result.summary
    title = "Validation (nothing written)" if args.validate_only else "Import"
    console().print(
        counts_table(
            f"{title} of {path.name}",
            [
                ("rows read", summary.rows_read),
                ("created", summary.created),
                ("updated", summary.updated),
                ("unchanged", summary.unchanged),
                ("failed", summary.failed),
                ("varieties created", summary.varieties_created),
                ("varieties renamed", summary.varieties_updated),
                ("committed", "yes" if summary.committed else "no"),
                ("seconds", f"{summary.duration.ToTimedelta().total_seconds():.2f}"),
            ],
        )
    )
    for warning in summary.warnings:
        console().print(f"warning: {warning}")
    return await asyncio.to_thread(_report_errors, path, result.row_errors)


def _report_errors(path: Path, errors: list[commodity_pb2.ImportRowError]) -> int:
    """Write (or clear a stale) FILE.errors.csv; the exit code of the import."""
    target = errors_path(path)
    if not errors:
        target.unlink(missing_ok=True)
        return 0
    write_errors(target, errors)
    print(f"{len(errors)} rejected rows written to {target}", flush=True)
    return ROWS_REJECTED


def file_format(given: str | None, path: Path | None) -> str:
    """--format, else the output file's suffix, else csv."""
    if given:
        return given
    suffix = path.suffix.lower().lstrip(".") if path is not None else ""
    return suffix if suffix in FORMATS else "csv"


async def _export(client: Client, args: argparse.Namespace) -> int:
    fmt = file_format(args.format, args.output)
    if fmt == "xlsx":
        try:
            require_xlsx()
        except ImportError as error:
            raise UsageError(str(error)) from None
    with ProgressReport(f"exporting to {args.output.name}") as progress:
        rows = await client.export_commodities(
            args.output,
            format=fmt,  # type: ignore[arg-type]
            filter=args.filter,
            include_varieties=args.with_varieties,
            on_progress=lambda p: progress.written(
                p.bytes_written, p.rows_written if fmt == "csv" else None
            ),
        )
    print(f"exported {rows} commodities to {args.output}", flush=True)
    return 0


async def _template(client: Client, args: argparse.Namespace) -> int:
    fmt = file_format(args.format, args.output)
    request = commodity_pb2.GetImportTemplateRequest(
        format=commodity_pb2.FILE_FORMAT_XLSX if fmt == "xlsx" else commodity_pb2.FILE_FORMAT_CSV
    )
    reply = await client.commodities.GetImportTemplate(request)
    target: Path = args.output or Path(reply.filename)
    await asyncio.to_thread(target.write_bytes, reply.content)
    print(f"wrote {target} ({reply.content_type})", flush=True)
    return 0
