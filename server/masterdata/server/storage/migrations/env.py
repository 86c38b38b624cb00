"""Alembic environment: runs on the connection that storage/migrate.py hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import masterdata.server.storage.models.events  # noqa: F401  (imports and registers every model)
from masterdata.server.storage.base import Base


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `masterdata migrate` (storage/migrate.py)")
run(connection)
