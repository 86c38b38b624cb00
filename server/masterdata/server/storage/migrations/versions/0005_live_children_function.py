"""PostgreSQL: masterdata_live_children(), the guard of a delete sent as one statement

A delete of a parent must see every child made live before it. Children are made
live only by transactions that lock the parent row first; a single statement reads
with a snapshot taken before it waits for that lock, so the count is made by this
VOLATILE function instead: it locks the parent row, then counts each child table's
live rows with a snapshot of its own, taken after the lock (storage/postgres/writes.py).
SQLite needs nothing: it runs one writer at a time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 16:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATE = """
CREATE FUNCTION masterdata_live_children(parent regclass, parent_id uuid, children text[])
RETURNS bigint[]
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    child text;
    live bigint;
    counts bigint[] := '{}';
BEGIN
    EXECUTE format('SELECT 1 FROM %s WHERE id = $1 FOR UPDATE', parent) USING parent_id;
    FOREACH child IN ARRAY children LOOP
        EXECUTE format(
            'SELECT count(*) FROM %I WHERE %I = $1 AND delete_time IS NULL',
            split_part(child, '.', 1),
            split_part(child, '.', 2)
        ) INTO live USING parent_id;
        counts := counts || live;
    END LOOP;
    RETURN counts;
END
$$
"""


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION masterdata_live_children(regclass, uuid, text[])")
