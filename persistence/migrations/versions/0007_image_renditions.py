"""Generated images record which gallery renditions (WebP thumbnail, preview) are stored.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "generated_images",
        sa.Column(
            "renditions",
            sa.ARRAY(sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
    )
    op.create_check_constraint(
        "ck_generated_images_known_renditions",
        "generated_images",
        "renditions <@ ARRAY['thumbnail', 'preview']::text[]",
    )


def downgrade() -> None:
    op.drop_constraint("ck_generated_images_known_renditions", "generated_images", type_="check")
    op.drop_column("generated_images", "renditions")
