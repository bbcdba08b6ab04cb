"""Automatic persisted queries: registered queries by their SHA-256.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persisted_queries",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_persisted_queries_sha256_format"),
        sa.CheckConstraint("length(query) <= 100000", name="ck_persisted_queries_query_length"),
        sa.PrimaryKeyConstraint("sha256", name="pk_persisted_queries"),
    )
    op.create_index("ix_persisted_queries_created_at", "persisted_queries", ["created_at"])


def downgrade() -> None:
    op.drop_table("persisted_queries")
