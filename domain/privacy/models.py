"""What deleting an account leaves to do, step by step, once the user's rows are gone."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class DeletionStep(StrEnum):
    """The upstream and stored leftovers of a deleted account, removed in this order."""

    # Running trainings and predictions, so that nothing new appears upstream.
    CANCEL_WORK = "CANCEL_WORK"
    # Every version of the user's model (with its predictions and outputs), then the model.
    DELETE_MODEL = "DELETE_MODEL"
    # The selfie archives on the provider's file store.
    DELETE_FILES = "DELETE_FILES"
    # The generated images and their renditions in this server's storage.
    DELETE_STORED_IMAGES = "DELETE_STORED_IMAGES"


class UsageKind(StrEnum):
    TRAINING = "TRAINING"
    GENERATION = "GENERATION"


@dataclass(frozen=True, slots=True)
class AccountDeletion:
    id: str
    former_user_id: str
    # "owner/name" of the user's model, None when they never trained one.
    replicate_model_id: str | None
    training_ids: tuple[str, ...]
    prediction_ids: tuple[str, ...]
    file_ids: tuple[str, ...]
    steps_done: frozenset[DeletionStep]
    created_at: datetime

    @property
    def steps_left(self) -> list[DeletionStep]:
        return [step for step in DeletionStep if step not in self.steps_done]

    @property
    def storage_prefix(self) -> str:
        """Every stored image of the user is under this key prefix."""
        return f"{self.former_user_id}/"
