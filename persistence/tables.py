"""The tables, as SQLModel classes. Relationships refuse lazy loading: load what you need."""

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.generation.models import GenerationSource, GenerationStatus
from domain.job_status import JobStatus
from domain.privacy.models import DeletionStep, UsageKind
from domain.training.models import TrainingStatus
from domain.users.models import ModelStatus

metadata = SQLModel.metadata
metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _one_of(column: str, values: Iterable[StrEnum]) -> str:
    """`column IN ('A', 'B')`, the values in their declared order."""
    quoted = ", ".join(f"'{value.value}'" for value in values)
    return f"{column} IN ({quoted})"


def _statuses(kind: type[JobStatus], *, terminal: bool | None = None) -> str:
    """The statuses of a kind (only the terminal or active ones if `terminal` is given)."""
    return _one_of("status", [status for status in kind if terminal in (None, status.is_terminal)])


def _text_array() -> sa.Column[list[str]]:
    return sa.Column(sa.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]"))


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
        sa.CheckConstraint(_one_of("status", ModelStatus), name="status"),
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
    input_names: dict[str, str] | None = Field(
        default=None, sa_column=sa.Column(JSONB, nullable=True)
    )
    unusable_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())


ACTIVE_TRAINING = _statuses(TrainingStatus, terminal=False)


class TrainingJobRow(SQLModel, table=True):
    __tablename__ = "training_jobs"
    __table_args__ = (
        sa.CheckConstraint(_statuses(TrainingStatus), name="status"),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
        sa.CheckConstraint("image_count BETWEEN 1 AND 100", name="image_count_range"),
        sa.CheckConstraint(
            f"({_statuses(TrainingStatus, terminal=True)}) = (completed_at IS NOT NULL)",
            name="completed_when_terminal",
        ),
        # One active training per user, whatever the number of replicas racing.
        sa.Index(
            "uq_training_jobs_one_active_per_user",
            "user_id",
            unique=True,
            postgresql_where=sa.text(ACTIVE_TRAINING),
        ),
        sa.Index(
            "ix_training_jobs_user_page", "user_id", sa.text("created_at DESC"), sa.text("id DESC")
        ),
        sa.Index(
            "ix_training_jobs_active_heard_at",
            "last_heard_at",
            postgresql_where=sa.text(ACTIVE_TRAINING),
        ),
        # Ended trainings whose selfie archive is still on the provider's file store.
        sa.Index(
            "ix_training_jobs_upload_to_delete",
            "completed_at",
            postgresql_where=sa.text("upload_file_id IS NOT NULL AND completed_at IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()"))
    )
    user_id: str = Field(
        sa_column=sa.Column(sa.String(32), sa.ForeignKey("users.id"), nullable=False)
    )
    model_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("user_models.id"), nullable=False, index=True)
    )
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    progress: float = Field(
        sa_column=sa.Column(sa.Float, nullable=False, server_default=sa.text("0"))
    )
    image_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    replicate_training_id: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(64), nullable=True, unique=True)
    )
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    upstream_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    # The selfies' upload, recorded before the create request: it identifies the
    # training upstream should that request's answer be lost.
    images_url: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    # That upload's id on the provider's file store, until it is deleted there (once the
    # training has ended).
    upload_file_id: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(64), nullable=True)
    )
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())
    started_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # When Replicate last told us about it (webhook or poll): the reconciler's clock.
    last_heard_at: datetime = Field(sa_column=_timestamp())
    # A reconciler replica holds the job until then.
    lease_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class WebhookDeliveryRow(SQLModel, table=True):
    """Webhook ids already applied: the same webhook twice changes nothing."""

    __tablename__ = "webhook_deliveries"

    webhook_id: str = Field(sa_column=sa.Column(sa.String(200), primary_key=True))
    received_at: datetime = Field(sa_column=_timestamp())


class ReplicateOwnerRow(SQLModel, table=True):
    """How many users' models each Replicate owner holds (one account holds at most 1,000)."""

    __tablename__ = "replicate_owners"
    __table_args__ = (sa.CheckConstraint("model_count >= 0", name="model_count_not_negative"),)

    owner: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    model_count: int = Field(
        sa_column=sa.Column(sa.Integer, nullable=False, server_default=sa.text("0"))
    )


ACTIVE_GENERATION = _statuses(GenerationStatus, terminal=False)


class GenerationRow(SQLModel, table=True):
    __tablename__ = "generations"
    __table_args__ = (
        sa.CheckConstraint(_statuses(GenerationStatus), name="status"),
        sa.CheckConstraint(_one_of("source", GenerationSource), name="source"),
        sa.CheckConstraint(
            "(source = 'PHOTOSHOOT') = (style_id IS NOT NULL)", name="style_for_photoshoots"
        ),
        sa.CheckConstraint("length(prompt) BETWEEN 1 AND 4000", name="prompt_length"),
        sa.UniqueConstraint("id", "user_id", name="uq_generations_id_user_id"),
        sa.CheckConstraint(
            f"({_statuses(GenerationStatus, terminal=True)}) = (completed_at IS NOT NULL)",
            name="completed_when_terminal",
        ),
        sa.Index(
            "ix_generations_user_page", "user_id", sa.text("created_at DESC"), sa.text("id DESC")
        ),
        sa.Index(
            "ix_generations_user_source_page",
            "user_id",
            "source",
            sa.text("created_at DESC"),
            sa.text("id DESC"),
        ),
        sa.Index(
            "ix_generations_active_heard_at",
            "last_heard_at",
            postgresql_where=sa.text(ACTIVE_GENERATION),
        ),
        sa.Index(
            "ix_generations_user_active",
            "user_id",
            postgresql_where=sa.text(ACTIVE_GENERATION),
        ),
    )

    id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()"))
    )
    user_id: str = Field(
        sa_column=sa.Column(sa.String(32), sa.ForeignKey("users.id"), nullable=False)
    )
    source: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    # The user's own version it ran on: "<replicate_model_id>:<replicate_version_id>".
    replicate_version: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    style_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    prompt: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # The locked parameters (and seed) exactly as sent.
    parameters: dict[str, object] = Field(sa_column=sa.Column(JSONB, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    replicate_prediction_id: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(64), nullable=True, unique=True)
    )
    output_urls: list[str] = Field(
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"))
    )
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    upstream_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    allowance_returned: bool = Field(
        sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    )
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())
    completed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    last_heard_at: datetime = Field(sa_column=_timestamp())
    lease_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class GeneratedImageRow(SQLModel, table=True):
    __tablename__ = "generated_images"
    __table_args__ = (
        sa.UniqueConstraint("generation_id", "position", name="uq_generated_images_position"),
        # An image belongs to its generation's user, and no one else's.
        sa.ForeignKeyConstraint(
            ["generation_id", "user_id"],
            ["generations.id", "generations.user_id"],
            name="fk_generated_images_generation_owner",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("position >= 0", name="position_not_negative"),
        sa.CheckConstraint(
            "renditions <@ ARRAY['thumbnail', 'preview']::text[]", name="known_renditions"
        ),
        # A page's images: its generations' ids, always with their owner's.
        sa.Index("ix_generated_images_generation_user", "generation_id", "user_id"),
        # One pick per generation.
        sa.Index(
            "uq_generated_images_one_selected",
            "generation_id",
            unique=True,
            postgresql_where=sa.text("selected"),
        ),
    )

    id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()"))
    )
    generation_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    user_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    position: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    storage_key: str = Field(sa_column=sa.Column(sa.String(300), nullable=False, unique=True))
    content_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    width: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    height: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    selected: bool = Field(
        sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    )
    created_at: datetime = Field(sa_column=_timestamp())
    # The sizes (ImageSize values) whose rendition is stored beside the original.
    renditions: list[str] = Field(
        sa_column=sa.Column(
            sa.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")
        )
    )


class DeletedGenerationRow(SQLModel, table=True):
    """A generation the user deleted that counted against their allowance: it still
    counts for the day it was made (kept two days, and not a moment past the user)."""

    __tablename__ = "deleted_generations"
    __table_args__ = (sa.Index("ix_deleted_generations_user_created", "user_id", "created_at"),)

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    user_id: str = Field(
        sa_column=sa.Column(
            sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        )
    )
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class AccountDeletionRow(SQLModel, table=True):
    """A deleted account's upstream and stored leftovers, until the deletion task has
    removed them all (then the row goes too). The user's own rows are already gone."""

    __tablename__ = "account_deletions"
    __table_args__ = (
        sa.CheckConstraint("former_user_id ~ '^[a-z0-9]{1,32}$'", name="former_user_id_format"),
        sa.CheckConstraint(
            "steps_done <@ ARRAY[{}]::text[]".format(
                ", ".join(f"'{s.value}'" for s in DeletionStep)
            ),
            name="known_steps",
        ),
    )

    id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()"))
    )
    former_user_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    replicate_model_id: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(200), nullable=True)
    )
    training_ids: list[str] = Field(sa_column=_text_array())
    prediction_ids: list[str] = Field(sa_column=_text_array())
    file_ids: list[str] = Field(sa_column=_text_array())
    steps_done: list[str] = Field(sa_column=_text_array())
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())


class AnonymousUsageRow(SQLModel, table=True):
    """What the books keep of deleted accounts: how many trainings and generations were
    made each day, with nothing that tells whose."""

    __tablename__ = "anonymous_usage"
    __table_args__ = (
        sa.CheckConstraint(_one_of("kind", UsageKind), name="kind"),
        sa.CheckConstraint("count >= 0", name="count_not_negative"),
    )

    day: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.String(16), primary_key=True))
    count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))


class ServerSecretRow(SQLModel, table=True):
    """Secrets every replica must share (e.g. the image URL signing key), made on first use."""

    __tablename__ = "server_secrets"

    name: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    value: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=_timestamp())


class PersistedQueryRow(SQLModel, table=True):
    """Queries registered by Apollo's automatic persisted queries, by their SHA-256."""

    __tablename__ = "persisted_queries"
    __table_args__ = (
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_format"),
        sa.CheckConstraint("length(query) <= 100000", name="query_length"),
        sa.Index("ix_persisted_queries_created_at", "created_at"),
    )

    sha256: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    query: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_column=_timestamp())


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a model, for statements that skip the ORM."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table
