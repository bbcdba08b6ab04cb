from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.generation.parameters import GenerationParameters
from domain.images import ImageSize
from domain.job_status import JobStatus


class GenerationStatus(JobStatus):
    STARTING = "STARTING"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


ACTIVE_GENERATION_STATUSES = frozenset(
    status for status in GenerationStatus if not status.is_terminal
)


class GenerationSource(StrEnum):
    MAYA = "MAYA"
    PHOTOSHOOT = "PHOTOSHOOT"


@dataclass(frozen=True, slots=True)
class Generation:
    id: str
    user_id: str
    source: GenerationSource
    # The user's own version it runs on: "<replicate_model_id>:<replicate_version_id>".
    replicate_version: str
    style_id: str | None
    prompt: str
    parameters: GenerationParameters
    status: GenerationStatus
    replicate_prediction_id: str | None
    # The provider's outputs, recorded when the prediction succeeded; the generation
    # stays PROCESSING until every one is stored here.
    output_urls: list[str] = field(default_factory=list)
    error: str | None = None
    upstream_error: str | None = None
    allowance_returned: bool = False
    created_at: datetime = datetime.min
    updated_at: datetime = datetime.min
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredOutput:
    """One of a generation's outputs, downloaded and stored: an image to record."""

    position: int
    storage_key: str
    content_type: str
    width: int | None
    height: int | None


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    id: str
    generation_id: str
    user_id: str
    position: int
    storage_key: str
    content_type: str
    width: int | None
    height: int | None
    selected: bool
    created_at: datetime
    # The renditions made and stored so far (ORIGINAL never appears: it always exists).
    renditions: frozenset[ImageSize] = frozenset()
