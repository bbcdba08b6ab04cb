from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class User:
    """A person known by their identity provider's subject.

    `id` is short, lowercase letters and digits, never reused: it names the user's
    model (`<owner>/<id>-selfie-lora`) and trigger word (`user<id>`).
    """

    id: str
    subject: str
    created_at: datetime


class ModelStatus(StrEnum):
    TRAINING = "TRAINING"
    READY = "READY"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class UserModel:
    id: str
    user_id: str
    replicate_model_id: str
    replicate_version_id: str | None
    status: ModelStatus
    trained_at: datetime | None
    created_at: datetime
    # How the version's input schema names each locked generation parameter, read
    # after its training; None until read.
    input_names: dict[str, str] | None = None
    # Why the recorded version cannot be used for generation, if it cannot.
    unusable_reason: str | None = None

    @property
    def trigger_word(self) -> str:
        return trigger_word_for(self.user_id)

    @property
    def owner(self) -> str:
        return self.replicate_model_id.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.replicate_model_id.split("/", 1)[1]


def trigger_word_for(user_id: str) -> str:
    return f"user{user_id}"


def model_name_for(user_id: str) -> str:
    return f"{user_id}-selfie-lora"
