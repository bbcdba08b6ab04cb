"""Training jobs keep the selfies' upload URL sent with their create request.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("training_jobs", sa.Column("images_url", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("training_jobs", "images_url")
