"""SQLite: rebuild the indexes on lower(...) with the Unicode lower() of storage/sqlite.py

SQLite's built-in lower() folds ASCII letters only; the server now registers a
Unicode lower() on every connection, as PostgreSQL's. Index entries computed with
the old function would not be found with the new one, so the indexes are rebuilt.
PostgreSQL needs nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 15:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("REINDEX")


def downgrade() -> None:
    """Nothing to undo: the server registers the same lower() whatever the revision."""
