"""Autogenerate an Alembic revision against a scratch SQLite database at the current head.

Usage: .venv/bin/python scripts/new_migration.py "message" [--rev-id 0002]
Review the result by hand: partial/functional indexes must carry both
`sqlite_where` and `postgresql_where`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from masterdata.server.db.migrate import MIGRATIONS, alembic_config


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("message")
    parser.add_argument("--rev-id")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp}/scratch.db")
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
            await conn.run_sync(
                lambda sync: command.revision(
                    alembic_config(sync), message=args.message, autogenerate=True, rev_id=args.rev_id
                )
            )
        await engine.dispose()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text()
        fixed = re.sub(r"(?<![.\w])Text\(\)", "sa.Text()", source)
        if fixed != source:
            path.write_text(fixed)


if __name__ == "__main__":
    asyncio.run(main())
