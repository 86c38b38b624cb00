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
#: New rows wait in the index's pending list until it holds this much, and every
#: search reads the whole list: at the default 4 MB, searches under a steady trickle
#: of writes read hundreds of pages each. 256 kB keeps that to 32 pages and cost a
#: 100,000-row import 7 % (64 kB: 18 %).
PENDING_LIST_KB = 256


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
        postgresql_with={"gin_pending_list_limit": PENDING_LIST_KB},
        postgresql_where=sa.text("delete_time IS NULL"),
    )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.drop_index("ix_commodities_search_trgm", table_name="commodities")
    # pg_trgm stays: other objects of the database may use it.
