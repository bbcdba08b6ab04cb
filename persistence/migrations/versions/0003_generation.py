"""Generation: generations, their stored images, shared server secrets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_GENERATION = "status IN ('STARTING', 'PROCESSING')"


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=None if nullable else sa.func.now(),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "generations",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("replicate_version", sa.String(300), nullable=False),
        sa.Column("style_id", sa.String(100), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("parameters", JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("replicate_prediction_id", sa.String(64), nullable=True),
        sa.Column("output_urls", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("upstream_error", sa.Text(), nullable=True),
        sa.Column("allowance_returned", sa.Boolean(), server_default=sa.false(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("completed_at", nullable=True),
        _timestamp("last_heard_at"),
        _timestamp("lease_until", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_generations"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_generations_user_id_users"),
        sa.UniqueConstraint(
            "replicate_prediction_id", name="uq_generations_replicate_prediction_id"
        ),
        sa.UniqueConstraint("id", "user_id", name="uq_generations_id_user_id"),
        sa.CheckConstraint(
            "status IN ('STARTING', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CANCELED')",
            name="ck_generations_status",
        ),
        sa.CheckConstraint("source IN ('MAYA', 'PHOTOSHOOT')", name="ck_generations_source"),
        sa.CheckConstraint(
            "(source = 'PHOTOSHOOT') = (style_id IS NOT NULL)",
            name="ck_generations_style_for_photoshoots",
        ),
        sa.CheckConstraint(
            "length(prompt) BETWEEN 1 AND 4000", name="ck_generations_prompt_length"
        ),
        sa.CheckConstraint(
            "(status IN ('SUCCEEDED', 'FAILED', 'CANCELED')) = (completed_at IS NOT NULL)",
            name="ck_generations_completed_when_terminal",
        ),
    )
    op.create_index(
        "ix_generations_user_page",
        "generations",
        ["user_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_generations_user_source_page",
        "generations",
        ["user_id", "source", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_generations_active_heard_at",
        "generations",
        ["last_heard_at"],
        postgresql_where=sa.text(ACTIVE_GENERATION),
    )
    op.create_index(
        "ix_generations_user_active",
        "generations",
        ["user_id"],
        postgresql_where=sa.text(ACTIVE_GENERATION),
    )
    op.create_table(
        "generated_images",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("generation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("selected", sa.Boolean(), server_default=sa.false(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_generated_images"),
        sa.ForeignKeyConstraint(
            ["generation_id", "user_id"],
            ["generations.id", "generations.user_id"],
            name="fk_generated_images_generation_owner",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("generation_id", "position", name="uq_generated_images_position"),
        sa.UniqueConstraint("storage_key", name="uq_generated_images_storage_key"),
        sa.CheckConstraint("position >= 0", name="ck_generated_images_position_not_negative"),
    )
    op.create_index(
        "ix_generated_images_generation_user", "generated_images", ["generation_id", "user_id"]
    )
    op.create_index(
        "uq_generated_images_one_selected",
        "generated_images",
        ["generation_id"],
        unique=True,
        postgresql_where=sa.text("selected"),
    )
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("name", name="pk_server_secrets"),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    op.drop_table("generated_images")
    op.drop_table("generations")
