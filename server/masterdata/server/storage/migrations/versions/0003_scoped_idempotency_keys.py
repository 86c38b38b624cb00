"""idempotency keys scoped to (identity, method), with a fingerprint of the request

The key was the request_id alone: another caller's request_id got the first
caller's reply. Stored replies are kept only for retries (24 hours), and a reply
stored before this revision has no identity or fingerprint to match, so the
table is made anew: a retry spanning the upgrade runs again instead of being
answered for the wrong caller.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_create_time"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.create_table(
        "idempotency_keys",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("identity", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "request_id", "identity", "method", name=op.f("pk_idempotency_keys")
        ),
    )
    op.create_index(
        op.f("ix_idempotency_keys_create_time"), "idempotency_keys", ["create_time"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_create_time"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.create_table(
        "idempotency_keys",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_create_time"), "idempotency_keys", ["create_time"], unique=False
    )
