"""The `masterdata` command: run, migrate and seed (later: call) the service."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence


def _server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL (env MASTERDATA_DATABASE_URL; default sqlite+aiosqlite:///./masterdata.db)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="masterdata", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the gRPC server", description="Run the gRPC server."
    )
    _server_flags(serve)
    serve.add_argument(
        "--listen", help="host:port to listen on (env MASTERDATA_LISTEN; default 127.0.0.1:50051)"
    )

    migrate = commands.add_parser(
        "migrate",
        help="upgrade the database schema",
        description="Upgrade the database to the latest schema.",
    )
    _server_flags(migrate)
    migrate.add_argument("--revision", default="head", help="target revision (default head)")

    seed = commands.add_parser(
        "seed",
        help="load standard reference data (idempotent)",
        description=(
            "Load standard reference data: the six trade-term families (FOB, CIF, EXW, "
            "LC at sight, 30 days credit, ...), cotton parameter templates and sample "
            "commodities. Works directly on the database through the service layer "
            "(validation and events apply), not over gRPC. Records whose name or code "
            "is already taken are left as they are, so running it again changes nothing. "
            "SQLite is migrated first; PostgreSQL must be migrated with `masterdata migrate`."
        ),
    )
    _server_flags(seed)
    return parser


async def _migrate(args: argparse.Namespace) -> None:
    from masterdata.server.config import Settings
    from masterdata.server.db import migrate
    from masterdata.server.db.engine import Database

    settings = Settings.load(database_url=args.database_url)
    db = Database.connect(settings)
    try:
        await migrate.upgrade(db.writer, args.revision)
        print(f"database at revision {await migrate.current_revision(db.writer)}")
    finally:
        await db.dispose()


async def _seed(args: argparse.Namespace) -> int:
    from masterdata.server.app import prepare_schema
    from masterdata.server.config import Settings
    from masterdata.server.db.engine import Database
    from masterdata.server.db.migrate import SchemaNotCurrent
    from masterdata.server.resources.runtime import Runtime
    from masterdata.server.seed import SeedError, seed_reference_data

    settings = Settings.load(database_url=args.database_url)
    db = Database.connect(settings)
    try:
        await prepare_schema(settings, db)
        report = await seed_reference_data(Runtime(db, settings))
    except (SchemaNotCurrent, SeedError) as error:
        print(f"masterdata: {error}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(report.table())
    return 0


def _serve(args: argparse.Namespace) -> int:
    from masterdata.server.app import serve
    from masterdata.server.config import Settings
    from masterdata.server.db.migrate import SchemaNotCurrent

    settings = Settings.load(database_url=args.database_url, listen=args.listen)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(settings))
    except SchemaNotCurrent as error:
        print(f"masterdata: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        asyncio.run(_migrate(args))
    if args.command == "seed":
        return asyncio.run(_seed(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
