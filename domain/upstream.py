"""The image provider (Replicate) as the domain sees it: a port and its objects (its errors
are in domain.errors)."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

# Upstream error texts are free text of any length (a trainer's traceback can run to
# many kilobytes): they are kept to this many characters.
MAX_UPSTREAM_ERROR_CHARS = 2000


def bounded_error(text: str) -> str:
    """The provider's error text, cut to MAX_UPSTREAM_ERROR_CHARS characters."""
    if len(text) <= MAX_UPSTREAM_ERROR_CHARS:
        return text
    return text[: MAX_UPSTREAM_ERROR_CHARS - 1] + "…"


class UpstreamStatus(StrEnum):
    STARTING = "starting"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (UpstreamStatus.SUCCEEDED, UpstreamStatus.FAILED, UpstreamStatus.CANCELED)


@dataclass(frozen=True, slots=True)
class UpstreamTraining:
    """A training as Replicate reports it (GET, or a webhook's body)."""

    id: str
    status: UpstreamStatus
    logs: str = ""
    error: str | None = None
    # "owner/name:<version id>" once succeeded.
    output_version: str | None = None
    # The trigger word it was started with.
    trigger_word: str | None = None
    # Its `input.input_images`: the upload made for one job (identifies it in a list).
    images_url: str | None = None
    # The webhook URL it was created with, when Replicate reports it.
    webhook: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UpstreamPrediction:
    id: str
    status: UpstreamStatus
    output: list[str] = field(default_factory=list)
    logs: str = ""
    error: str | None = None
    # The bare version id, and the prompt and seed of its input (a generation's own seed
    # is drawn at random: with the version and prompt it identifies it in a list).
    version: str | None = None
    prompt: str | None = None
    seed: int | None = None
    # The webhook URL it was created with, when Replicate reports it.
    webhook: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FileUpload:
    content: bytes
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file on the provider's file store: its id (to delete it) and its `urls.get`
    (a training's input)."""

    id: str
    url: str


@dataclass(frozen=True, slots=True)
class UpstreamFile:
    """A file as the provider lists it."""

    id: str
    name: str
    created_at: datetime | None


class UnconfirmedReport(Exception):
    """A report for a job with no upstream id yet, which the provider does not confirm
    as that job's: it is not adopted."""


class WebhookOutcome(StrEnum):
    """What a verified webhook did."""

    APPLIED = "applied"  # to its job (forward only: an old report changes nothing)
    DUPLICATE = "duplicate"  # its id was delivered before: nothing changed
    UNKNOWN_JOB = "unknown_job"  # no such job (any more)


class Replicate(Protocol):
    """Replicate's HTTP API (see ../shared/docs/replicate.md)."""

    def require_configured(self) -> None:
        """Raises NotConfigured when no API token is set; call before any work."""
        ...

    async def get_model(self, owner: str, name: str) -> dict[str, Any] | None: ...

    async def create_model(self, owner: str, name: str, *, description: str) -> bool:
        """Creates a private model; False when the name is taken (409)."""
        ...

    async def upload_file(self, upload: FileUpload) -> UploadedFile:
        """The file's id and `urls.get` (to pass as a training's input)."""
        ...

    async def delete_file(self, file_id: str) -> None:
        """Deletes an uploaded file; an unknown file (404) counts as deleted."""
        ...

    async def list_files(self, *, max_pages: int = 10) -> list[UpstreamFile]:
        """Files on the provider's store, newest first, over at most `max_pages` pages
        (GET /v1/files)."""
        ...

    async def create_training(
        self,
        *,
        trainer_version: str,
        destination: str,
        input: dict[str, Any],
        webhook: str | None,
        webhook_events: list[str],
    ) -> UpstreamTraining: ...

    async def get_training(self, training_id: str) -> UpstreamTraining | None: ...

    async def list_trainings(
        self, *, max_pages: int = 1, created_after: datetime | None = None
    ) -> list[UpstreamTraining]:
        """The newest trainings first, over at most `max_pages` pages; no further page is
        read once one reaches a training created before `created_after`."""
        ...

    async def cancel_training(self, training_id: str) -> UpstreamTraining: ...

    async def get_version_input_schema(
        self, owner: str, name: str, version_id: str
    ) -> dict[str, Any] | None:
        """`openapi_schema.components.schemas.Input.properties`, or None (unknown version)."""
        ...

    async def list_model_versions(self, owner: str, name: str) -> list[str] | None:
        """The ids of every version of the model (all pages of
        GET /v1/models/{owner}/{name}/versions); None when the model does not exist."""
        ...

    async def delete_model_version(self, owner: str, name: str, version_id: str) -> None:
        """Deletes the version and its predictions; an unknown version (404) counts as
        deleted."""
        ...

    async def delete_model(self, owner: str, name: str) -> None:
        """Deletes the model, which the provider refuses (UpstreamRejected) while it has
        versions; an unknown model (404) counts as deleted."""
        ...

    async def webhook_secret(self) -> str: ...

    async def create_prediction(
        self,
        *,
        version: str,
        input: dict[str, Any],
        webhook: str | None,
        webhook_events: list[str],
    ) -> UpstreamPrediction: ...

    async def get_prediction(self, prediction_id: str) -> UpstreamPrediction | None: ...

    async def list_predictions(
        self, *, max_pages: int = 1, created_after: datetime | None = None
    ) -> list[UpstreamPrediction]:
        """As `list_trainings`, for predictions."""
        ...

    async def cancel_prediction(self, prediction_id: str) -> UpstreamPrediction: ...
