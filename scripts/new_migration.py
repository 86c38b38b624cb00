"""Autogenerate an Alembic revision against a scratch PostgreSQL database.

PostgreSQL, not SQLite, because only it reflects expression indexes such as
lower(name). Usage:

    .venv/bin/python scripts/new_migration.py "message" --rev-id 0002
    .venv/bin/python scripts/new_migration.py "initial schema" --rev-id 0001 --replace

`--replace` regenerates an existing revision from an empty database (only for a
revision that has not been released). Review the result by hand: partial indexes
must carry both `sqlite_where` and `postgresql_where`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

import masterdata.server.storage.models.events  # noqa: F401  (imports and registers every model)
from masterdata.server.storage.base import Base
from masterdata.server.storage.migrate import MIGRATIONS, alembic_config


def _revision_file(rev_id: str) -> Path | None:
    return next((MIGRATIONS / "versions").glob(f"{rev_id}_*.py"), None)


async def generate(message: str, rev_id: str | None, admin_url: str, upgrade_to: str) -> None:
    name = f"masterdata_autogen_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        engine = create_async_engine(f"{base}/{name}")
        async with engine.begin() as conn:
            if upgrade_to:
                await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), upgrade_to))
            await conn.run_sync(
                lambda sync: command.revision(
                    alembic_config(sync), message=message, autogenerate=True, rev_id=rev_id
                )
            )
        await engine.dispose()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def fix_up(path: Path) -> None:
    """What autogenerate against PostgreSQL cannot render."""
    source = re.sub(r"(?<![.\w])Text\(\)", "sa.Text()", path.read_text())
    for table in Base.metadata.sorted_tables:
        if table.dialect_kwargs.get("sqlite_autoincrement"):
            start = source.find(f"op.create_table('{table.name}',")
            if start >= 0 and "sqlite_autoincrement" not in source[start:]:
                end = source.index("\n    )\n", start)
                source = source[:end] + ",\n    sqlite_autoincrement=True" + source[end:]
    path.write_text(source)
    subprocess.run([sys.executable, "-m", "ruff", "format", str(path)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("message")
    parser.add_argument("--rev-id")
    parser.add_argument("--replace", action="store_true", help="regenerate --rev-id in place")
    parser.add_argument("--admin-url", default="postgresql://root@127.0.0.1:5432/test")
    args = parser.parse_args()
    upgrade_to = "head"
    if args.replace:
        existing = _revision_file(args.rev_id)
        if existing is not None:
            down = re.search(r"down_revision: .*= (.+)", existing.read_text())
            previous = down.group(1).strip().strip("'\"") if down else "None"
            upgrade_to = "" if previous == "None" else previous
            existing.unlink()
    asyncio.run(generate(args.message, args.rev_id, args.admin_url, upgrade_to))
    created = _revision_file(args.rev_id) if args.rev_id else None
    if created is not None:
        fix_up(created)


if __name__ == "__main__":
    main()
