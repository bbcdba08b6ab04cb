"""The ports the domain speaks through; persistence and adapters implement them."""

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from domain.generation.models import GeneratedImage, Generation, GenerationSource, StoredOutput
from domain.generation.parameters import GenerationParameters
from domain.images import ImageSize
from domain.paging import Page
from domain.privacy.models import AccountDeletion, DeletionStep
from domain.training.models import TrainingJob
from domain.training.selfies import CleanedSelfie, ReadSelfie, SelfieLimits
from domain.users.models import User, UserModel


class UserRepository(Protocol):
    async def get_by_subject(self, subject: str) -> User | None: ...

    async def insert_if_absent(self, user_id: str, subject: str) -> None:
        """Insert unless the id or the subject is taken; never raises for either."""
        ...

    async def lock(self, user_id: str) -> bool:
        """Holds the user's row until the transaction ends: one allowance check at a time.
        False when the user no longer exists (their account was deleted meanwhile)."""
        ...


class AccountRepository(Protocol):
    async def erase_user(self, user_id: str) -> None:
        """Adds the user's trainings and generations to the anonymous usage counts, then
        deletes every row of theirs: images, generations, trainings, model, the user."""
        ...

    async def insert_deletion(
        self,
        *,
        former_user_id: str,
        replicate_model_id: str | None,
        training_ids: Sequence[str],
        prediction_ids: Sequence[str],
        file_ids: Sequence[str],
    ) -> AccountDeletion: ...

    async def get_deletion(self, deletion_id: str) -> AccountDeletion | None: ...

    async def step_done(self, deletion_id: str, step: DeletionStep) -> bool:
        """Records the step done; False when it was recorded before."""
        ...

    async def step_failed(self, deletion_id: str, error: str) -> None:
        """Records why the last attempt failed, for an operator."""
        ...

    async def finish_deletion(self, deletion_id: str) -> None: ...

    async def unfinished_deletions(self, *, older_than: datetime) -> list[AccountDeletion]: ...


class UserModelRepository(Protocol):
    async def for_users(self, user_ids: Sequence[str]) -> list[UserModel]: ...

    async def owned_by_ids(self, user_id: str, model_ids: Sequence[str]) -> list[UserModel]: ...

    async def for_user(self, user_id: str, *, lock: bool = False) -> UserModel | None: ...

    async def create(self, user_id: str, replicate_model_id: str) -> UserModel:
        """A new model in status TRAINING; raises TrainingInProgress if the user has one."""
        ...

    async def save(self, model: UserModel) -> UserModel: ...


class TrainingJobRepository(Protocol):
    async def active_for_user(self, user_id: str) -> TrainingJob | None: ...

    async def active_for_users(self, user_ids: Sequence[str]) -> list[TrainingJob]: ...

    async def latest_for_user(self, user_id: str) -> TrainingJob | None: ...

    async def insert_queued(self, user_id: str, model_id: str, image_count: int) -> TrainingJob:
        """Raises TrainingInProgress when the user already has an active training."""
        ...

    async def get_owned(self, user_id: str, job_id: str) -> TrainingJob | None: ...

    async def owned_by_ids(self, user_id: str, job_ids: Sequence[str]) -> list[TrainingJob]: ...

    async def get(self, job_id: str, *, lock: bool = False) -> TrainingJob | None: ...

    async def save(self, job: TrainingJob) -> TrainingJob:
        """Stores the job's state and that Replicate was heard from now; frees its lease."""
        ...

    async def claim_stale(
        self,
        *,
        silent_for_seconds: float,
        lease_seconds: float,
        limit: int,
        canceled_unconfirmed_for_seconds: float = 0.0,
    ) -> list[TrainingJob]:
        """Active jobs not heard of lately (or with no Replicate training yet), and jobs
        canceled that recently while their create request may have arrived, not leased
        by another replica: now leased."""
        ...

    async def count_started_since(self, user_id: str, moment: datetime) -> int:
        """Trainings created since then, but for those that never reached Replicate."""
        ...

    async def page(
        self, user_id: str, *, first: int, after: tuple[datetime, str] | None
    ) -> Page[TrainingJob]: ...

    async def all_for_user(self, user_id: str) -> list[TrainingJob]: ...

    async def uploads_to_delete(self, *, ended_before: datetime, limit: int) -> list[TrainingJob]:
        """Ended jobs whose upload is still on the provider's file store."""
        ...

    async def forget_upload(self, file_id: str) -> None:
        """The upload is deleted upstream: no job refers to it any more."""
        ...

    async def referenced_uploads(self, file_ids: Sequence[str]) -> set[str]:
        """Those of `file_ids` some job still refers to."""
        ...


class GenerationRepository(Protocol):
    async def insert(
        self,
        *,
        user_id: str,
        source: GenerationSource,
        replicate_version: str,
        style_id: str | None,
        prompt: str,
        parameters: GenerationParameters,
    ) -> Generation: ...

    async def get_owned(self, user_id: str, generation_id: str) -> Generation | None: ...

    async def owned_by_ids(
        self, user_id: str, generation_ids: Sequence[str]
    ) -> list[Generation]: ...

    async def get(self, generation_id: str, *, lock: bool = False) -> Generation | None: ...

    async def save(self, generation: Generation) -> Generation:
        """Stores its state and that Replicate was heard from now; frees its lease."""
        ...

    async def count_active(self, user_id: str) -> int: ...

    async def count_counted_since(self, user_id: str, moment: datetime) -> int:
        """Generations since then that count against the allowance."""
        ...

    async def page(
        self,
        user_id: str,
        *,
        first: int,
        after: tuple[datetime, str] | None,
        source: GenerationSource | None,
    ) -> Page[Generation]: ...

    async def claim_stale(
        self, *, silent_for_seconds: float, lease_seconds: float, limit: int
    ) -> list[Generation]: ...

    async def active_for_user(self, user_id: str) -> list[Generation]: ...

    async def delete(self, generation: Generation, *, still_counts: bool) -> None:
        """Deletes it and its images' rows; when it `still_counts`, it keeps counting
        against the allowance of the day it was made."""
        ...

    async def existing_ids(self, generation_ids: Sequence[str]) -> set[str]: ...

    async def forget_deleted_before(self, moment: datetime) -> int:
        """Forgets deleted generations made before then (no allowance counts them)."""
        ...


class GeneratedImageRepository(Protocol):
    async def for_generations(
        self, user_id: str, generation_ids: Sequence[str]
    ) -> list[GeneratedImage]: ...

    async def add_missing(
        self,
        *,
        generation_id: str,
        user_id: str,
        images: Sequence[StoredOutput],
    ) -> None:
        """Each position is stored once: a position already there is kept as it is."""
        ...

    async def select(self, user_id: str, image_id: str) -> GeneratedImage | None:
        """Marks the image the pick of its generation (unmarking the others)."""
        ...

    async def get(self, image_id: str) -> GeneratedImage | None: ...

    async def owned_by_ids(
        self, user_id: str, image_ids: Sequence[str]
    ) -> list[GeneratedImage]: ...

    async def for_generation(self, generation_id: str) -> list[GeneratedImage]:
        """The generation's images, whoever owns them, by position."""
        ...

    async def add_rendition(self, image_id: str, size: ImageSize) -> None:
        """Records that the image's rendition in `size` is stored (again is fine)."""
        ...


class OwnerRepository(Protocol):
    async def reserve_model_slot(self, owners: Sequence[str], per_owner: int) -> str | None:
        """The first owner with room, its count raised by one; None when all are full."""
        ...

    async def release_model_slot(self, owner: str) -> None:
        """One model fewer at `owner` (its model was deleted upstream)."""
        ...


class WebhookDeliveryRepository(Protocol):
    async def first_delivery(self, webhook_id: str) -> bool:
        """Records the id; False if it was recorded before (a duplicate)."""
        ...

    async def forget_before(self, moment: datetime) -> int: ...


class EventPublisher(Protocol):
    """Announcements to every replica, sent when the transaction commits."""

    async def training_changed(self, job: TrainingJob) -> None: ...

    async def generation_changed(self, generation: Generation) -> None: ...


class TaskQueue(Protocol):
    """Background work, queued in the unit of work's transaction: a task exists once the
    transaction commits and not at all if it rolls back. Workers run it, retrying with
    backoff, and a worker that dies mid-task has it re-run by another."""

    async def store_outputs(self, generation_id: str) -> None:
        """Queues copying the generation's outputs into storage; a no-op while one is
        already queued or running for it."""
        ...

    async def make_renditions(self, generation_id: str) -> None:
        """Queues making the gallery renditions of the generation's stored images; a
        no-op while one is already queued or running for it."""
        ...

    async def delete_training_upload(self, job_id: str) -> None:
        """Queues deleting the ended training's selfie archive from the provider."""
        ...

    async def delete_stored_images(self, key_prefix: str) -> None:
        """Queues deleting every stored object under the key prefix."""
        ...

    async def delete_account(self, deletion_id: str) -> None:
        """Queues the upstream and storage steps of an account deletion."""
        ...


class UnitOfWork(Protocol):
    """One transaction: commit explicitly, anything else rolls back on exit."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def user_models(self) -> UserModelRepository: ...

    @property
    def training_jobs(self) -> TrainingJobRepository: ...

    @property
    def owners(self) -> OwnerRepository: ...

    @property
    def generations(self) -> GenerationRepository: ...

    @property
    def images(self) -> GeneratedImageRepository: ...

    @property
    def webhook_deliveries(self) -> WebhookDeliveryRepository: ...

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def events(self) -> EventPublisher: ...

    @property
    def tasks(self) -> TaskQueue: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        """A unit of work; `read_only` ones only read (no transaction to begin or end)."""
        ...


class SelfieProcessor(Protocol):
    """Where selfies are decoded: CPU-heavy work kept off the event loop."""

    async def clean(
        self, selfies: Sequence[ReadSelfie], limits: SelfieLimits
    ) -> list[CleanedSelfie]:
        """`clean_selfie` of each, in their order; raises the BadUserInput of the first
        (by position) that `clean_selfie` refuses."""
        ...
