"""Users and their own models.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("subject", name="uq_users_subject"),
        sa.CheckConstraint("id ~ '^[a-z0-9]{1,32}$'", name="ck_users_id_format"),
        sa.CheckConstraint("length(subject) BETWEEN 1 AND 255", name="ck_users_subject_length"),
    )
    op.create_table(
        "user_models",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("replicate_model_id", sa.String(200), nullable=False),
        sa.Column("replicate_version_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_user_models"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_models_user_id_users", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("user_id", name="uq_user_models_user_id"),
        sa.UniqueConstraint("replicate_model_id", name="uq_user_models_replicate_model_id"),
        sa.CheckConstraint(
            "status IN ('TRAINING', 'READY', 'FAILED')", name="ck_user_models_status"
        ),
        sa.CheckConstraint(
            "status <> 'READY' OR (replicate_version_id IS NOT NULL AND trained_at IS NOT NULL)",
            name="ck_user_models_ready_has_version",
        ),
    )


def downgrade() -> None:
    op.drop_table("user_models")
    op.drop_table("users")
