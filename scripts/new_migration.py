"""Autogenerate an Alembic revision against a scratch PostgreSQL database at head.

PostgreSQL, not SQLite, because only it reflects expression indexes such as
lower(name). Usage: .venv/bin/python scripts/new_migration.py "message" [--rev-id 0002]
[--admin-url postgresql://root@127.0.0.1:5432/test]. Review the result by hand:
partial indexes must carry both `sqlite_where` and `postgresql_where`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import uuid

import asyncpg
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from masterdata.server.db.migrate import MIGRATIONS, alembic_config


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("message")
    parser.add_argument("--rev-id")
    parser.add_argument("--admin-url", default="postgresql://root@127.0.0.1:5432/test")
    args = parser.parse_args()
    name = f"masterdata_autogen_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = args.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        engine = create_async_engine(f"{base}/{name}")
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
            await conn.run_sync(
                lambda sync: command.revision(
                    alembic_config(sync),
                    message=args.message,
                    autogenerate=True,
                    rev_id=args.rev_id,
                )
            )
        await engine.dispose()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text()
        fixed = re.sub(r"(?<![.\w])Text\(\)", "sa.Text()", source)
        if fixed != source:
            path.write_text(fixed)


if __name__ == "__main__":
    asyncio.run(main())
