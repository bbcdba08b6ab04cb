"""The tables, as SQLModel classes. Relationships refuse lazy loading: load what you need."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata
metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _timestamp(*, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=None if nullable else sa.func.now(),
    )


class UserRow(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("id ~ '^[a-z0-9]{1,32}$'", name="id_format"),
        sa.CheckConstraint("length(subject) BETWEEN 1 AND 255", name="subject_length"),
    )

    id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    subject: str = Field(sa_column=sa.Column(sa.String(255), nullable=False, unique=True))
    created_at: datetime = Field(sa_column=_timestamp())


class UserModelRow(SQLModel, table=True):
    __tablename__ = "user_models"
    __table_args__ = (
        sa.CheckConstraint("status IN ('TRAINING', 'READY', 'FAILED')", name="status"),
        sa.CheckConstraint(
            "status <> 'READY' OR (replicate_version_id IS NOT NULL AND trained_at IS NOT NULL)",
            name="ready_has_version",
        ),
    )

    id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()"))
    )
    user_id: str = Field(
        sa_column=sa.Column(
            sa.String(32),
            sa.ForeignKey("users.id", ondelete="RESTRICT"),
            nullable=False,
            unique=True,
        )
    )
    replicate_model_id: str = Field(
        sa_column=sa.Column(sa.String(200), nullable=False, unique=True)
    )
    replicate_version_id: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(128), nullable=True)
    )
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    trained_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())
