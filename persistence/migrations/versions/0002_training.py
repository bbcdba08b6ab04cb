"""Training: jobs, webhook de-duplication, owners' model counts, version input names.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_TRAINING = "status IN ('QUEUED', 'STARTING', 'PROCESSING')"


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=None if nullable else sa.func.now(),
        nullable=nullable,
    )


def upgrade() -> None:
    op.add_column("user_models", sa.Column("input_names", JSONB(), nullable=True))
    op.add_column("user_models", sa.Column("unusable_reason", sa.Text(), nullable=True))
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("model_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("image_count", sa.Integer(), nullable=False),
        sa.Column("replicate_training_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("upstream_error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("started_at", nullable=True),
        _timestamp("completed_at", nullable=True),
        _timestamp("last_heard_at"),
        _timestamp("lease_until", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_training_jobs"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_training_jobs_user_id_users"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["user_models.id"], name="fk_training_jobs_model_id_user_models"
        ),
        sa.UniqueConstraint("replicate_training_id", name="uq_training_jobs_replicate_training_id"),
        sa.CheckConstraint(
            "status IN ('QUEUED', 'STARTING', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CANCELED')",
            name="ck_training_jobs_status",
        ),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 1", name="ck_training_jobs_progress_range"
        ),
        sa.CheckConstraint(
            "image_count BETWEEN 1 AND 100", name="ck_training_jobs_image_count_range"
        ),
        sa.CheckConstraint(
            "(status IN ('SUCCEEDED', 'FAILED', 'CANCELED')) = (completed_at IS NOT NULL)",
            name="ck_training_jobs_completed_when_terminal",
        ),
    )
    op.create_index("ix_training_jobs_model_id", "training_jobs", ["model_id"])
    op.create_index(
        "uq_training_jobs_one_active_per_user",
        "training_jobs",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE_TRAINING),
    )
    op.create_index(
        "ix_training_jobs_user_page",
        "training_jobs",
        ["user_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_training_jobs_active_heard_at",
        "training_jobs",
        ["last_heard_at"],
        postgresql_where=sa.text(ACTIVE_TRAINING),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("webhook_id", sa.String(200), nullable=False),
        _timestamp("received_at"),
        sa.PrimaryKeyConstraint("webhook_id", name="pk_webhook_deliveries"),
    )
    op.create_table(
        "replicate_owners",
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("model_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_replicate_owners"),
        sa.CheckConstraint("model_count >= 0", name="ck_replicate_owners_model_count_not_negative"),
    )


def downgrade() -> None:
    op.drop_table("replicate_owners")
    op.drop_table("webhook_deliveries")
    op.drop_table("training_jobs")
    op.drop_column("user_models", "unusable_reason")
    op.drop_column("user_models", "input_names")
