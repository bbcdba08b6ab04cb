"""Privacy: training jobs keep their upload's file id until it is deleted upstream;
account deletions, deleted generations that still count, and anonymous usage.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STEPS = "'CANCEL_WORK', 'DELETE_MODEL', 'DELETE_FILES', 'DELETE_STORED_IMAGES'"


def _text_array(name: str) -> sa.Column[list[str]]:
    return sa.Column(
        name, sa.ARRAY(sa.Text()), nullable=False, server_default=sa.text("'{}'::text[]")
    )


def _timestamp(name: str) -> "sa.Column[datetime]":
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.add_column("training_jobs", sa.Column("upload_file_id", sa.String(64), nullable=True))
    # Uploads recorded before this revision: their id is the last segment of their URL.
    op.execute(
        "UPDATE training_jobs SET upload_file_id = substring(images_url from '/files/([^/?#]+)')"
        " WHERE images_url IS NOT NULL"
    )
    op.create_index(
        "ix_training_jobs_upload_to_delete",
        "training_jobs",
        ["completed_at"],
        postgresql_where=sa.text("upload_file_id IS NOT NULL AND completed_at IS NOT NULL"),
    )
    op.create_table(
        "deleted_generations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_deleted_generations_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deleted_generations"),
    )
    op.create_index(
        "ix_deleted_generations_user_created", "deleted_generations", ["user_id", "created_at"]
    )
    op.create_table(
        "account_deletions",
        sa.Column("id", sa.Uuid(), nullable=False, server_default=sa.text("gen_random_uuid()")),
        sa.Column("former_user_id", sa.String(32), nullable=False),
        sa.Column("replicate_model_id", sa.String(200), nullable=True),
        _text_array("training_ids"),
        _text_array("prediction_ids"),
        _text_array("file_ids"),
        _text_array("steps_done"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "former_user_id ~ '^[a-z0-9]{1,32}$'",
            name="ck_account_deletions_former_user_id_format",
        ),
        sa.CheckConstraint(
            f"steps_done <@ ARRAY[{_STEPS}]::text[]", name="ck_account_deletions_known_steps"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_account_deletions"),
        sa.UniqueConstraint("former_user_id", name="uq_account_deletions_former_user_id"),
    )
    op.create_table(
        "anonymous_usage",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('TRAINING', 'GENERATION')", name="ck_anonymous_usage_kind"),
        sa.CheckConstraint("count >= 0", name="ck_anonymous_usage_count_not_negative"),
        sa.PrimaryKeyConstraint("day", "kind", name="pk_anonymous_usage"),
    )


def downgrade() -> None:
    op.drop_table("anonymous_usage")
    op.drop_table("account_deletions")
    op.drop_index("ix_deleted_generations_user_created", table_name="deleted_generations")
    op.drop_table("deleted_generations")
    op.drop_index("ix_training_jobs_upload_to_delete", table_name="training_jobs")
    op.drop_column("training_jobs", "upload_file_id")
