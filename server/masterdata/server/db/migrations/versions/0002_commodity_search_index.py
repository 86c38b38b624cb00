"""commodity search index (PostgreSQL: trigrams of the searched text)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_TEXT = "lower(name || ' ' || category || ' ' || description || ' ' || hsn_code)"


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return  # SQLite scans: it has no trigram index
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_commodities_search_trgm",
        "commodities",
        [sa.text(f"{SEARCH_TEXT} gin_trgm_ops")],
        unique=False,
        postgresql_using="gin",
        postgresql_where=sa.text("delete_time IS NULL"),
    )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.drop_index("ix_commodities_search_trgm", table_name="commodities")
    # pg_trgm stays: other objects of the database may use it.
