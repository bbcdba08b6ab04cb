"""In-memory stand-ins for the domain's ports, for service tests with no PostgreSQL and no
HTTP (cosmicpython's `FakeUnitOfWork` style).

`FakeDatabase` holds the tables; `FakeUnitOfWorkFactory` opens `FakeUnitOfWork`s on it.
The rules the SQL enforces and the services rely on are modelled:

- a write unit of work works on a copy of the tables, made the database's on `commit()`
  together with its notices (NOTIFY is transactional); leaving it without a commit (or
  on an exception) discards its writes. Write units of work run one at a time: the row
  locks (`users.lock`, `get(..., lock=True)`) serialise the services' writes, and one
  lock for all is stricter still; opening a second one inside the first (which could
  deadlock on PostgreSQL) raises. Read-only ones read the committed tables and refuse
  writes.
- users: id (`[a-z0-9]{1,32}`) and subject unique; `insert_if_absent` ignores a clash;
  `lock` answers whether the user (still) exists.
- user_models: one per user (`create` raises TrainingInProgress.being_started), the
  user must exist, the Replicate model id is unique.
- training_jobs: one active per user (`insert_queued` raises TrainingInProgress.running),
  the user and model must exist, a Replicate training id belongs to one job,
  `completed_at` is set exactly when the status is terminal, progress stays in [0, 1],
  `count_started_since` leaves out the failed jobs that never reached Replicate.
- generations: the user must exist, a photoshoot has a style and nothing else does, a
  Replicate prediction id belongs to one generation, `completed_at` exactly when
  terminal, `count_counted_since` leaves out those whose allowance was given back and
  counts the deleted ones kept as still counting (`deleted_generations`, gone with
  their user). Deleting a generation deletes its images.
- accounts: `erase_user` adds the user's generations and trainings to `anonymous_usage`
  (per UTC day and kind), then deletes their images, generations, trainings, model and
  user row; a deletion per former user, `step_done` true only the first time (and it
  clears `last_error`), `unfinished_deletions` those not moved since the moment.
- generated_images: belong to their generation's user; one image per (generation,
  position), the first kept; storage keys unique; one pick per generation.
- owners: a model slot is never reserved past `per_owner`; a release never goes below 0.
- webhook deliveries: each id recorded once.
- tasks: `store_outputs` queued with the transaction (gone if it rolls back), once while
  one for that generation waits; `FakeDatabase.take_tasks()` takes them as a worker would.
  `make_renditions` likewise, taken by `FakeDatabase.take_rendition_tasks()`, and
  `delete_training_upload`, `delete_stored_images`, `delete_account` by
  `take_upload_deletion_tasks()`, `take_stored_image_deletion_tasks()`,
  `take_account_deletion_tasks()`.
- leases: `claim_stale` as persistence/repositories/leases.py: claimable rows silent
  that long (or not yet known upstream), unleased or with the lease run out, oldest
  heard first, at most `limit`, now leased; `save` records "heard now" and frees it.

Not modelled: statement timing within a transaction (`now()` is the clock at each call)
and concurrent readers seeing a writer's uncommitted rows (they never do here either).
"""

import asyncio
import copy
import hashlib
import itertools
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from domain.errors import NotConfigured, TrainingInProgress, UpstreamRejected, UpstreamUnavailable
from domain.events import EventHub, Notice, generation_topic, training_topic
from domain.generation.models import (
    GeneratedImage,
    Generation,
    GenerationSource,
    GenerationStatus,
    StoredOutput,
)
from domain.generation.parameters import GenerationParameters
from domain.images import FetchedImage, ImageSize, OutputFetchError, StoredObject
from domain.paging import Page
from domain.privacy.models import AccountDeletion, DeletionStep, UsageKind
from domain.training.models import TrainingJob, TrainingStatus, job_snapshot
from domain.training.selfies import CleanedSelfie, ReadSelfie, SelfieLimits
from domain.training.versions import LOCKED_PARAMETER_SPELLINGS
from domain.upstream import (
    FileUpload,
    UploadedFile,
    UpstreamFile,
    UpstreamPrediction,
    UpstreamStatus,
    UpstreamTraining,
)
from domain.users.models import ModelStatus, User, UserModel

T = TypeVar("T")
_USER_ID = re.compile(r"[a-z0-9]{1,32}")


class FakeIntegrityError(Exception):
    """A write the database's constraints would refuse."""


def now() -> datetime:
    return datetime.now(UTC)


# -- the tables ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heard:
    """A job row's reconciler columns: when Replicate was last heard of it, its lease."""

    last_heard_at: datetime
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeletedGeneration:
    """A deleted generation that still counts against its user's allowance of the day."""

    user_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeletionRow:
    """An account deletion's row: the record, why its last step failed, when it moved."""

    deletion: AccountDeletion
    last_error: str | None
    updated_at: datetime


@dataclass
class Tables:
    users: dict[str, User] = field(default_factory=dict)
    user_models: dict[str, UserModel] = field(default_factory=dict)
    training_jobs: dict[str, TrainingJob] = field(default_factory=dict)
    generations: dict[str, Generation] = field(default_factory=dict)
    images: dict[str, GeneratedImage] = field(default_factory=dict)
    owners: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, datetime] = field(default_factory=dict)
    heard: dict[str, Heard] = field(default_factory=dict)
    # The generation ids of the queued `store_outputs` tasks, oldest first.
    tasks: list[str] = field(default_factory=list)
    # The generation ids of the queued `make_renditions` tasks, oldest first.
    rendition_tasks: list[str] = field(default_factory=list)
    deleted_generations: dict[str, DeletedGeneration] = field(default_factory=dict)
    deletions: dict[str, DeletionRow] = field(default_factory=dict)
    # What the books keep of erased rows: a count per (UTC day, kind), nothing whose.
    anonymous_usage: dict[tuple[date, UsageKind], int] = field(default_factory=dict)
    # The job ids of the queued `delete_training_upload` tasks, oldest first.
    upload_deletion_tasks: list[str] = field(default_factory=list)
    # The key prefixes of the queued `delete_stored_images` tasks, oldest first.
    stored_image_deletion_tasks: list[str] = field(default_factory=list)
    # The deletion ids of the queued `delete_account` tasks, oldest first.
    account_deletion_tasks: list[str] = field(default_factory=list)

    def copy(self) -> "Tables":
        # Rows are frozen dataclasses: copying the dicts and lists copies the tables.
        return Tables(**{f.name: copy.copy(getattr(self, f.name)) for f in fields(self)})


class FakeDatabase:
    """The committed tables, the notices sent, and the one-writer-at-a-time lock."""

    def __init__(self, hub: EventHub | None = None) -> None:
        self.tables = Tables()
        self.notices: list[tuple[str, Notice]] = []
        self.commits = 0
        self._hub = hub
        self._writer = asyncio.Lock()
        self._writer_task: asyncio.Task[Any] | None = None
        self._committed = asyncio.Event()

    def publish(self, tables: Tables, notices: Sequence[tuple[str, Notice]]) -> None:
        self.tables = tables
        self.commits += 1
        self.notices.extend(notices)
        for topic, notice in notices:
            if self._hub is not None:
                self._hub.dispatch(topic, notice)
        self._committed.set()

    async def wait_for(self, condition: Callable[[], bool], *, within: float = 2.0) -> None:
        """Returns once `condition()` holds, checked after each commit."""
        async with asyncio.timeout(within):
            while not condition():
                self._committed.clear()
                await self._committed.wait()

    def take_tasks(self) -> list[str]:
        """The queued `store_outputs` tasks' generation ids, taken off the queue."""
        taken, self.tables.tasks = self.tables.tasks, []
        return taken

    def take_rendition_tasks(self) -> list[str]:
        """The queued `make_renditions` tasks' generation ids, taken off the queue."""
        taken, self.tables.rendition_tasks = self.tables.rendition_tasks, []
        return taken

    def take_upload_deletion_tasks(self) -> list[str]:
        """The queued `delete_training_upload` tasks' job ids, taken off the queue."""
        taken, self.tables.upload_deletion_tasks = self.tables.upload_deletion_tasks, []
        return taken

    def take_stored_image_deletion_tasks(self) -> list[str]:
        """The queued `delete_stored_images` tasks' key prefixes, taken off the queue."""
        taken = self.tables.stored_image_deletion_tasks
        self.tables.stored_image_deletion_tasks = []
        return taken

    def take_account_deletion_tasks(self) -> list[str]:
        """The queued `delete_account` tasks' deletion ids, taken off the queue."""
        taken, self.tables.account_deletion_tasks = self.tables.account_deletion_tasks, []
        return taken

    def snapshot(self) -> Tables:
        """The committed tables now, to compare with later ("nothing changed")."""
        return self.tables.copy()

    # -- seeding (as fixtures insert rows) ---------------------------------------------------

    def add_user(self, user_id: str, subject: str | None = None) -> User:
        user = User(user_id, subject or f"subject-{user_id}", now())
        self.tables.users[user_id] = user
        return user

    def add_model(
        self,
        user_id: str,
        *,
        version_id: str | None = None,
        input_names: dict[str, str] | None = None,
        status: ModelStatus | None = None,
        owner: str = "studio",
    ) -> UserModel:
        model = UserModel(
            id=str(uuid.uuid4()),
            user_id=user_id,
            replicate_model_id=f"{owner}/{user_id}-selfie-lora",
            replicate_version_id=version_id,
            status=status or (ModelStatus.READY if version_id else ModelStatus.TRAINING),
            trained_at=now() if version_id else None,
            created_at=now(),
            input_names=input_names,
        )
        self.tables.user_models[model.id] = model
        return model

    def add_training(self, user_id: str, **values: Any) -> TrainingJob:
        model = next(m for m in self.tables.user_models.values() if m.user_id == user_id)
        moment = values.pop("created_at", now())
        status = values.pop("status", TrainingStatus.QUEUED)
        job = TrainingJob(
            id=str(uuid.uuid4()),
            user_id=user_id,
            model_id=model.id,
            status=status,
            progress=0.0,
            image_count=10,
            replicate_training_id=None,
            error=None,
            upstream_error=None,
            created_at=moment,
            started_at=None,
            completed_at=moment if status.is_terminal else None,
            updated_at=moment,
        )
        job = replace(job, **values)
        self.tables.training_jobs[job.id] = job
        self.tables.heard[job.id] = Heard(moment)
        return job

    def add_generation(self, user_id: str, **values: Any) -> Generation:
        moment = values.pop("created_at", now())
        status = values.pop("status", GenerationStatus.STARTING)
        generation = Generation(
            id=str(uuid.uuid4()),
            user_id=user_id,
            source=GenerationSource.MAYA,
            replicate_version="studio/model:v1",
            style_id=None,
            prompt="a photo",
            parameters=GenerationParameters(seed=1),
            status=status,
            replicate_prediction_id=None,
            created_at=moment,
            updated_at=moment,
            completed_at=moment if status.is_terminal else None,
        )
        generation = replace(generation, **values)
        self.tables.generations[generation.id] = generation
        self.tables.heard[generation.id] = Heard(moment)
        return generation

    # -- the writer lock --------------------------------------------------------------------

    async def begin_writing(self) -> None:
        if self._writer_task is not None and self._writer_task is asyncio.current_task():
            raise RuntimeError("a write unit of work opened inside another (a deadlock risk)")
        await self._writer.acquire()
        self._writer_task = asyncio.current_task()

    def end_writing(self) -> None:
        self._writer_task = None
        self._writer.release()


class _Transaction:
    """What one unit of work sees: the committed tables (read-only) or its own copy."""

    def __init__(self, database: FakeDatabase, read_only: bool) -> None:
        self._database = database
        self._read_only = read_only
        self._tables: Tables | None = None
        self.notices: list[tuple[str, Notice]] = []

    def begin(self) -> None:
        self._tables = None if self._read_only else self._database.tables.copy()
        self.notices = []

    @property
    def tables(self) -> Tables:
        return self._database.tables if self._tables is None else self._tables

    def writable(self) -> Tables:
        if self._read_only or self._tables is None:
            raise FakeIntegrityError("a write in a read-only unit of work")
        return self._tables

    def commit(self) -> None:
        self._database.publish(self.writable(), self.notices)
        self.begin()


# -- the repositories -----------------------------------------------------------------------


class FakeUserRepository:
    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn
        self.locked: list[str] = []

    async def get_by_subject(self, subject: str) -> User | None:
        return next((u for u in self._txn.tables.users.values() if u.subject == subject), None)

    async def insert_if_absent(self, user_id: str, subject: str) -> None:
        tables = self._txn.writable()
        if not _USER_ID.fullmatch(user_id) or not 1 <= len(subject) <= 255:
            raise FakeIntegrityError(f"user {user_id!r} / {subject!r} breaks a check")
        if user_id in tables.users or await self.get_by_subject(subject) is not None:
            return
        tables.users[user_id] = User(user_id, subject, now())

    async def lock(self, user_id: str) -> bool:
        tables = self._txn.writable()
        self.locked.append(user_id)
        return user_id in tables.users


class FakeUserModelRepository:
    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    def _models(self) -> Iterable[UserModel]:
        return self._txn.tables.user_models.values()

    async def for_users(self, user_ids: Sequence[str]) -> list[UserModel]:
        return [m for m in self._models() if m.user_id in user_ids]

    async def owned_by_ids(self, user_id: str, model_ids: Sequence[str]) -> list[UserModel]:
        return [m for m in self._models() if m.id in model_ids and m.user_id == user_id]

    async def for_user(self, user_id: str, *, lock: bool = False) -> UserModel | None:
        if lock:
            self._txn.writable()
        return next((m for m in self._models() if m.user_id == user_id), None)

    async def create(self, user_id: str, replicate_model_id: str) -> UserModel:
        tables = self._txn.writable()
        _require(user_id in tables.users, f"no user {user_id}")
        if any(m.user_id == user_id for m in tables.user_models.values()):
            raise TrainingInProgress.being_started()
        _require(
            all(m.replicate_model_id != replicate_model_id for m in tables.user_models.values()),
            f"model {replicate_model_id} is taken",
        )
        model = UserModel(
            str(uuid.uuid4()), user_id, replicate_model_id, None, ModelStatus.TRAINING, None, now()
        )
        tables.user_models[model.id] = model
        return model

    async def save(self, model: UserModel) -> UserModel:
        tables = self._txn.writable()
        current = _existing(tables.user_models, model.id)
        saved = replace(model, user_id=current.user_id, created_at=current.created_at)
        tables.user_models[model.id] = saved
        return saved


class FakeTrainingJobRepository:
    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    def _jobs(self) -> list[TrainingJob]:
        return list(self._txn.tables.training_jobs.values())

    async def active_for_user(self, user_id: str) -> TrainingJob | None:
        return next((j for j in self._jobs() if j.user_id == user_id and _active(j)), None)

    async def active_for_users(self, user_ids: Sequence[str]) -> list[TrainingJob]:
        return [j for j in self._jobs() if j.user_id in user_ids and _active(j)]

    async def latest_for_user(self, user_id: str) -> TrainingJob | None:
        return next(iter(_newest_first(j for j in self._jobs() if j.user_id == user_id)), None)

    async def insert_queued(self, user_id: str, model_id: str, image_count: int) -> TrainingJob:
        tables = self._txn.writable()
        _require(user_id in tables.users and model_id in tables.user_models, "no such user/model")
        _require(1 <= image_count <= 100, "image_count out of range")
        if await self.active_for_user(user_id) is not None:
            raise TrainingInProgress.running()
        moment = now()
        job = TrainingJob(
            id=str(uuid.uuid4()),
            user_id=user_id,
            model_id=model_id,
            status=TrainingStatus.QUEUED,
            progress=0.0,
            image_count=image_count,
            replicate_training_id=None,
            error=None,
            upstream_error=None,
            created_at=moment,
            started_at=None,
            completed_at=None,
            updated_at=moment,
        )
        tables.training_jobs[job.id] = job
        tables.heard[job.id] = Heard(moment)
        return job

    async def get_owned(self, user_id: str, job_id: str) -> TrainingJob | None:
        job = self._txn.tables.training_jobs.get(job_id)
        return job if job is not None and job.user_id == user_id else None

    async def owned_by_ids(self, user_id: str, job_ids: Sequence[str]) -> list[TrainingJob]:
        return [j for j in self._jobs() if j.id in job_ids and j.user_id == user_id]

    async def get(self, job_id: str, *, lock: bool = False) -> TrainingJob | None:
        if lock:
            self._txn.writable()
        return self._txn.tables.training_jobs.get(job_id)

    async def save(self, job: TrainingJob) -> TrainingJob:
        tables = self._txn.writable()
        current = _existing(tables.training_jobs, job.id)
        _require(0.0 <= job.progress <= 1.0, "progress out of range")
        _require(job.status.is_terminal == (job.completed_at is not None), "completed_at check")
        _require_unique_upstream_id(
            job.id, job.replicate_training_id, tables.training_jobs.values(), "training"
        )
        moment = now()
        saved = replace(
            job,
            user_id=current.user_id,
            model_id=current.model_id,
            image_count=current.image_count,
            created_at=current.created_at,
            updated_at=moment,
        )
        tables.training_jobs[job.id] = saved
        tables.heard[job.id] = Heard(moment)
        return saved

    async def claim_stale(
        self,
        *,
        silent_for_seconds: float,
        lease_seconds: float,
        limit: int,
        canceled_unconfirmed_for_seconds: float = 0.0,
    ) -> list[TrainingJob]:
        tables = self._txn.writable()
        window = now() - timedelta(seconds=canceled_unconfirmed_for_seconds)

        def claimable(job: TrainingJob) -> bool:
            canceled_unconfirmed = (
                job.status is TrainingStatus.CANCELED
                and job.replicate_training_id is None
                and job.images_url is not None
                and job.created_at > window
            )
            return _active(job) or canceled_unconfirmed

        return _claim(
            tables,
            tables.training_jobs,
            claimable,
            lambda job: job.replicate_training_id is None,
            silent_for_seconds=silent_for_seconds,
            lease_seconds=lease_seconds,
            limit=limit,
        )

    async def count_started_since(self, user_id: str, moment: datetime) -> int:
        return sum(
            1
            for j in self._jobs()
            if j.user_id == user_id
            and j.created_at >= moment
            and not (j.status is TrainingStatus.FAILED and j.replicate_training_id is None)
        )

    async def page(
        self, user_id: str, *, first: int, after: tuple[datetime, str] | None
    ) -> Page[TrainingJob]:
        return _page([j for j in self._jobs() if j.user_id == user_id], first, after)

    async def all_for_user(self, user_id: str) -> list[TrainingJob]:
        return [j for j in self._jobs() if j.user_id == user_id]

    async def uploads_to_delete(self, *, ended_before: datetime, limit: int) -> list[TrainingJob]:
        ended = [
            j
            for j in self._jobs()
            if j.upload_file_id is not None
            and j.completed_at is not None
            and j.completed_at < ended_before
        ]
        return sorted(ended, key=lambda job: job.completed_at or ended_before)[:limit]

    async def forget_upload(self, file_id: str) -> None:
        tables = self._txn.writable()
        for job in list(tables.training_jobs.values()):
            if job.upload_file_id == file_id:
                tables.training_jobs[job.id] = replace(job, upload_file_id=None)

    async def referenced_uploads(self, file_ids: Sequence[str]) -> set[str]:
        uploads = {j.upload_file_id for j in self._jobs() if j.upload_file_id is not None}
        return uploads & set(file_ids)


class FakeGenerationRepository:
    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    def _all(self) -> list[Generation]:
        return list(self._txn.tables.generations.values())

    async def insert(
        self,
        *,
        user_id: str,
        source: GenerationSource,
        replicate_version: str,
        style_id: str | None,
        prompt: str,
        parameters: GenerationParameters,
    ) -> Generation:
        tables = self._txn.writable()
        _require(user_id in tables.users, f"no user {user_id}")
        _require((source is GenerationSource.PHOTOSHOOT) == (style_id is not None), "style check")
        _require(1 <= len(prompt) <= 4000, "prompt length")
        moment = now()
        generation = Generation(
            id=str(uuid.uuid4()),
            user_id=user_id,
            source=source,
            replicate_version=replicate_version,
            style_id=style_id,
            prompt=prompt,
            parameters=parameters,
            status=GenerationStatus.STARTING,
            replicate_prediction_id=None,
            created_at=moment,
            updated_at=moment,
        )
        tables.generations[generation.id] = generation
        tables.heard[generation.id] = Heard(moment)
        return generation

    async def get_owned(self, user_id: str, generation_id: str) -> Generation | None:
        generation = self._txn.tables.generations.get(generation_id)
        return generation if generation is not None and generation.user_id == user_id else None

    async def owned_by_ids(self, user_id: str, generation_ids: Sequence[str]) -> list[Generation]:
        return [g for g in self._all() if g.id in generation_ids and g.user_id == user_id]

    async def get(self, generation_id: str, *, lock: bool = False) -> Generation | None:
        if lock:
            self._txn.writable()
        return self._txn.tables.generations.get(generation_id)

    async def save(self, generation: Generation) -> Generation:
        tables = self._txn.writable()
        current = _existing(tables.generations, generation.id)
        _require(
            generation.status.is_terminal == (generation.completed_at is not None),
            "completed_at check",
        )
        _require_unique_upstream_id(
            generation.id,
            generation.replicate_prediction_id,
            tables.generations.values(),
            "prediction",
        )
        moment = now()
        saved = replace(
            current,
            status=generation.status,
            replicate_prediction_id=generation.replicate_prediction_id,
            output_urls=list(generation.output_urls),
            error=generation.error,
            upstream_error=generation.upstream_error,
            allowance_returned=generation.allowance_returned,
            completed_at=generation.completed_at,
            updated_at=moment,
        )
        tables.generations[generation.id] = saved
        tables.heard[generation.id] = Heard(moment)
        return saved

    async def count_active(self, user_id: str) -> int:
        return sum(1 for g in self._all() if g.user_id == user_id and not g.status.is_terminal)

    async def count_counted_since(self, user_id: str, moment: datetime) -> int:
        kept = sum(
            1
            for g in self._all()
            if g.user_id == user_id and g.created_at >= moment and not g.allowance_returned
        )
        deleted = sum(
            1
            for d in self._txn.tables.deleted_generations.values()
            if d.user_id == user_id and d.created_at >= moment
        )
        return kept + deleted

    async def page(
        self,
        user_id: str,
        *,
        first: int,
        after: tuple[datetime, str] | None,
        source: GenerationSource | None,
    ) -> Page[Generation]:
        mine = [
            g
            for g in self._all()
            if g.user_id == user_id and (source is None or g.source is source)
        ]
        return _page(mine, first, after)

    async def claim_stale(
        self, *, silent_for_seconds: float, lease_seconds: float, limit: int
    ) -> list[Generation]:
        tables = self._txn.writable()
        return _claim(
            tables,
            tables.generations,
            lambda generation: not generation.status.is_terminal,
            lambda generation: generation.replicate_prediction_id is None,
            silent_for_seconds=silent_for_seconds,
            lease_seconds=lease_seconds,
            limit=limit,
        )

    async def active_for_user(self, user_id: str) -> list[Generation]:
        return [g for g in self._all() if g.user_id == user_id and not g.status.is_terminal]

    async def delete(self, generation: Generation, *, still_counts: bool) -> None:
        tables = self._txn.writable()
        deleted = tables.generations.get(generation.id)
        if deleted is None:
            return
        _count_anonymously(tables, UsageKind.GENERATION, [deleted])
        if still_counts:
            _require(deleted.user_id in tables.users, f"no user {deleted.user_id}")
            _require(generation.id not in tables.deleted_generations, "deleted generation taken")
            tables.deleted_generations[generation.id] = DeletedGeneration(
                generation.user_id, generation.created_at
            )
        _delete_generations(tables, {generation.id})

    async def existing_ids(self, generation_ids: Sequence[str]) -> set[str]:
        return set(generation_ids) & set(self._txn.tables.generations)

    async def forget_deleted_before(self, moment: datetime) -> int:
        deleted = self._txn.writable().deleted_generations
        old = [key for key, row in deleted.items() if row.created_at < moment]
        for key in old:
            del deleted[key]
        return len(old)


class FakeGeneratedImageRepository:
    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    def _all(self) -> list[GeneratedImage]:
        return list(self._txn.tables.images.values())

    async def for_generations(
        self, user_id: str, generation_ids: Sequence[str]
    ) -> list[GeneratedImage]:
        mine = [
            i for i in self._all() if i.user_id == user_id and i.generation_id in generation_ids
        ]
        return sorted(mine, key=lambda image: (image.generation_id, image.position))

    async def add_missing(
        self, *, generation_id: str, user_id: str, images: Sequence[StoredOutput]
    ) -> None:
        tables = self._txn.writable()
        generation = tables.generations.get(generation_id)
        _require(generation is not None and generation.user_id == user_id, "image owner check")
        taken = {(i.generation_id, i.position) for i in tables.images.values()}
        for output in images:
            if (generation_id, output.position) in taken:
                continue
            _require(output.position >= 0, "position check")
            _require(
                all(i.storage_key != output.storage_key for i in tables.images.values()),
                f"storage key {output.storage_key} is taken",
            )
            image = GeneratedImage(
                id=str(uuid.uuid4()),
                generation_id=generation_id,
                user_id=user_id,
                position=output.position,
                storage_key=output.storage_key,
                content_type=output.content_type,
                width=output.width,
                height=output.height,
                selected=False,
                created_at=now(),
            )
            tables.images[image.id] = image

    async def select(self, user_id: str, image_id: str) -> GeneratedImage | None:
        tables = self._txn.writable()
        picked = tables.images.get(image_id)
        if picked is None or picked.user_id != user_id:
            return None
        for image in list(tables.images.values()):
            if image.generation_id == picked.generation_id and image.selected:
                tables.images[image.id] = replace(image, selected=False)
        tables.images[image_id] = replace(picked, selected=True)
        return tables.images[image_id]

    async def get(self, image_id: str) -> GeneratedImage | None:
        return self._txn.tables.images.get(image_id)

    async def owned_by_ids(self, user_id: str, image_ids: Sequence[str]) -> list[GeneratedImage]:
        return [i for i in self._all() if i.id in image_ids and i.user_id == user_id]

    async def for_generation(self, generation_id: str) -> list[GeneratedImage]:
        mine = [i for i in self._all() if i.generation_id == generation_id]
        return sorted(mine, key=lambda image: image.position)

    async def add_rendition(self, image_id: str, size: ImageSize) -> None:
        tables = self._txn.writable()
        image = tables.images.get(image_id)
        _require(size is not ImageSize.ORIGINAL, "known renditions check")
        if image is not None:
            tables.images[image_id] = replace(image, renditions=image.renditions | {size})


class FakeOwnerRepository:
    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    async def reserve_model_slot(self, owners: Sequence[str], per_owner: int) -> str | None:
        counts = self._txn.writable().owners
        for owner in owners:
            counts.setdefault(owner, 0)
        for owner in owners:
            if counts[owner] < per_owner:
                counts[owner] += 1
                return owner
        return None

    async def release_model_slot(self, owner: str) -> None:
        counts = self._txn.writable().owners
        if counts.get(owner, 0) > 0:
            counts[owner] -= 1


class FakeAccountRepository:
    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    async def erase_user(self, user_id: str) -> None:
        tables = self._txn.writable()
        generations = [g for g in tables.generations.values() if g.user_id == user_id]
        jobs = [j for j in tables.training_jobs.values() if j.user_id == user_id]
        _count_anonymously(tables, UsageKind.GENERATION, generations)
        _count_anonymously(tables, UsageKind.TRAINING, jobs)
        _delete_generations(tables, {g.id for g in generations})
        for job in jobs:
            del tables.training_jobs[job.id]
            tables.heard.pop(job.id, None)
        for model in [m for m in tables.user_models.values() if m.user_id == user_id]:
            del tables.user_models[model.id]
        # Deleted generations go with their user (ON DELETE CASCADE).
        for key in [k for k, d in tables.deleted_generations.items() if d.user_id == user_id]:
            del tables.deleted_generations[key]
        tables.users.pop(user_id, None)

    async def insert_deletion(
        self,
        *,
        former_user_id: str,
        replicate_model_id: str | None,
        training_ids: Sequence[str],
        prediction_ids: Sequence[str],
        file_ids: Sequence[str],
    ) -> AccountDeletion:
        tables = self._txn.writable()
        _require(_USER_ID.fullmatch(former_user_id) is not None, "former_user_id check")
        _require(
            all(r.deletion.former_user_id != former_user_id for r in tables.deletions.values()),
            f"a deletion of {former_user_id} exists",
        )
        moment = now()
        deletion = AccountDeletion(
            id=str(uuid.uuid4()),
            former_user_id=former_user_id,
            replicate_model_id=replicate_model_id,
            training_ids=tuple(training_ids),
            prediction_ids=tuple(prediction_ids),
            file_ids=tuple(file_ids),
            steps_done=frozenset(),
            created_at=moment,
        )
        tables.deletions[deletion.id] = DeletionRow(deletion, None, moment)
        return deletion

    async def get_deletion(self, deletion_id: str) -> AccountDeletion | None:
        row = self._txn.tables.deletions.get(deletion_id)
        return row.deletion if row else None

    async def step_done(self, deletion_id: str, step: DeletionStep) -> bool:
        deletions = self._txn.writable().deletions
        row = deletions.get(deletion_id)
        if row is None or step in row.deletion.steps_done:
            return False
        done = replace(row.deletion, steps_done=row.deletion.steps_done | {step})
        deletions[deletion_id] = DeletionRow(done, None, now())
        return True

    async def step_failed(self, deletion_id: str, error: str) -> None:
        deletions = self._txn.writable().deletions
        row = deletions.get(deletion_id)
        if row is not None:
            deletions[deletion_id] = replace(row, last_error=error, updated_at=now())

    async def finish_deletion(self, deletion_id: str) -> None:
        self._txn.writable().deletions.pop(deletion_id, None)

    async def unfinished_deletions(self, *, older_than: datetime) -> list[AccountDeletion]:
        rows = self._txn.tables.deletions.values()
        idle = [row.deletion for row in rows if row.updated_at < older_than]
        return sorted(idle, key=lambda deletion: deletion.id)


class FakeWebhookDeliveryRepository:
    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    async def first_delivery(self, webhook_id: str) -> bool:
        deliveries = self._txn.writable().deliveries
        if webhook_id in deliveries:
            return False
        deliveries[webhook_id] = now()
        return True

    async def forget_before(self, moment: datetime) -> int:
        deliveries = self._txn.writable().deliveries
        old = [key for key, received in deliveries.items() if received < moment]
        for key in old:
            del deliveries[key]
        return len(old)


class FakeEventPublisher:
    """Queues the notices persistence/notifications.py would NOTIFY: sent on commit."""

    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    async def training_changed(self, job: TrainingJob) -> None:
        self._txn.writable()
        self._txn.notices.append((training_topic(job.id), job_snapshot(job)))

    async def generation_changed(self, generation: Generation) -> None:
        self._txn.writable()
        self._txn.notices.append(
            (generation_topic(generation.id), {"status": generation.status.value})
        )


class FakeTaskQueue:
    """Queues tasks in the transaction: they exist once it commits."""

    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    async def store_outputs(self, generation_id: str) -> None:
        tasks = self._txn.writable().tasks
        if generation_id not in tasks:
            tasks.append(generation_id)

    async def make_renditions(self, generation_id: str) -> None:
        _queue_once(self._txn.writable().rendition_tasks, generation_id)

    async def delete_training_upload(self, job_id: str) -> None:
        _queue_once(self._txn.writable().upload_deletion_tasks, job_id)

    async def delete_stored_images(self, key_prefix: str) -> None:
        _queue_once(self._txn.writable().stored_image_deletion_tasks, key_prefix)

    async def delete_account(self, deletion_id: str) -> None:
        _queue_once(self._txn.writable().account_deletion_tasks, deletion_id)


def _queue_once(tasks: list[str], subject: str) -> None:
    """A task is queued once while one for the same subject waits."""
    if subject not in tasks:
        tasks.append(subject)


# -- the unit of work ----------------------------------------------------------------------


class FakeUnitOfWork:
    def __init__(self, database: FakeDatabase, *, read_only: bool = False) -> None:
        self._database = database
        self.read_only = read_only
        self.committed = False
        self.rolled_back = False
        self._txn = _Transaction(database, read_only)
        self.users = FakeUserRepository(self._txn)
        self.user_models = FakeUserModelRepository(self._txn)
        self.training_jobs = FakeTrainingJobRepository(self._txn)
        self.owners = FakeOwnerRepository(self._txn)
        self.generations = FakeGenerationRepository(self._txn)
        self.images = FakeGeneratedImageRepository(self._txn)
        self.webhook_deliveries = FakeWebhookDeliveryRepository(self._txn)
        self.accounts = FakeAccountRepository(self._txn)
        self.events = FakeEventPublisher(self._txn)
        self.tasks = FakeTaskQueue(self._txn)

    async def __aenter__(self) -> Self:
        if not self.read_only:
            await self._database.begin_writing()
        self._txn.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.read_only:
            return
        # Whatever was not committed is dropped with the working copy.
        self.rolled_back = bool(self._txn.notices) or self._txn.tables != self._database.tables
        self._txn.begin()
        self._database.end_writing()

    async def commit(self) -> None:
        self._txn.commit()
        self.committed = True


class FakeUnitOfWorkFactory:
    """A `UnitOfWorkFactory`; remembers every unit of work it opened."""

    def __init__(self, database: FakeDatabase) -> None:
        self.database = database
        self.opened: list[FakeUnitOfWork] = []

    def __call__(self, *, read_only: bool = False) -> FakeUnitOfWork:
        uow = FakeUnitOfWork(self.database, read_only=read_only)
        self.opened.append(uow)
        return uow


# -- Replicate -----------------------------------------------------------------------------

# A trained version's input schema that takes every locked parameter ("guidance_scale").
FULL_VERSION_INPUTS: dict[str, Any] = {
    ("guidance_scale" if name == "guidance" else spellings[0]): {"type": "string"}
    for name, spellings in LOCKED_PARAMETER_SPELLINGS.items()
}
_WRITES = frozenset(
    {
        "create_model",
        "upload_file",
        "create_training",
        "cancel_training",
        "create_prediction",
        "cancel_prediction",
        "delete_model_version",
        "delete_model",
        "delete_file",
    }
)
# What the provider answers when asked to delete a model that still has versions.
MODEL_HAS_VERSIONS = "This model has versions. Delete them before deleting the model."


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: dict[str, Any]


class FakeReplicate:
    """The `Replicate` port in memory: models, files, trainings and predictions, every call
    recorded, and failures scripted per method:

    - `fail_next(name, error)`: the next call raises `error` and nothing happens upstream;
    - `lose_next_answer(name)`: the next call takes effect upstream, then raises
      UpstreamUnavailable(may_have_arrived=True), as a timeout after sending would.
    """

    PAGE_SIZE = 100

    def __init__(self, *, configured: bool = True) -> None:
        self.configured = configured
        self.calls: list[Call] = []
        self.models: dict[tuple[str, str], dict[str, Any]] = {}
        # A deleted model's name stays taken, as on the provider.
        self.deleted_models: set[tuple[str, str]] = set()
        # Each model's version ids, oldest first (`succeed_training` adds one).
        self.model_versions: dict[tuple[str, str], list[str]] = {}
        self.files: dict[str, UpstreamFile] = {}
        self.trainings: dict[str, UpstreamTraining] = {}
        self.predictions: dict[str, UpstreamPrediction] = {}
        # Each prediction's request body, as JSON would carry it.
        self.prediction_bodies: dict[str, dict[str, Any]] = {}
        # A version id's input schema properties (None: unreadable); FULL by default.
        self.version_inputs: dict[str, dict[str, Any] | None] = {}
        self._failures: dict[str, list[BaseException]] = {}
        self._lost_answers: dict[str, int] = {}
        self._ids = itertools.count(1)

    # -- scripting and reading --------------------------------------------------------------

    def fail_next(self, name: str, error: BaseException) -> None:
        self._failures.setdefault(name, []).append(error)

    def lose_next_answer(self, name: str) -> None:
        self._lost_answers[name] = self._lost_answers.get(name, 0) + 1

    def calls_to(self, name: str) -> list[dict[str, Any]]:
        return [call.arguments for call in self.calls if call.name == name]

    @property
    def writes(self) -> list[Call]:
        """The calls that would change something upstream (every POST and DELETE)."""
        return [call for call in self.calls if call.name in _WRITES]

    def update_training(self, training_id: str, **changes: Any) -> UpstreamTraining:
        training = replace(self.trainings[training_id], **changes)
        self.trainings[training_id] = training
        return training

    def update_prediction(self, prediction_id: str, **changes: Any) -> UpstreamPrediction:
        prediction = replace(self.predictions[prediction_id], **changes)
        self.predictions[prediction_id] = prediction
        return prediction

    def succeed_training(self, training_id: str, version_id: str = "v1") -> UpstreamTraining:
        created = (a for a in self.calls_to("create_training") if a.get("id") == training_id)
        destination = next(created)["destination"]
        owner, _, name = destination.partition("/")
        versions = self.model_versions.setdefault((owner, name), [])
        if version_id not in versions:
            versions.append(version_id)
        return self.update_training(
            training_id,
            status=UpstreamStatus.SUCCEEDED,
            output_version=f"{destination}:{version_id}",
            started_at=now(),
            completed_at=now(),
        )

    # -- the port ------------------------------------------------------------------------

    def require_configured(self) -> None:
        if not self.configured:
            raise NotConfigured("No image provider token is set.")

    async def get_model(self, owner: str, name: str) -> dict[str, Any] | None:
        self._call("get_model", owner=owner, name=name)
        return self.models.get((owner, name))

    async def create_model(self, owner: str, name: str, *, description: str) -> bool:
        self._call("create_model", owner=owner, name=name, description=description)
        if (owner, name) in self.models or (owner, name) in self.deleted_models:
            return False
        self.models[(owner, name)] = {"owner": owner, "name": name, "visibility": "private"}
        return self._answer("create_model", True)

    async def upload_file(self, upload: FileUpload) -> UploadedFile:
        self._call("upload_file", filename=upload.filename, content_type=upload.content_type)
        file_id = f"f{next(self._ids)}"
        self.files[file_id] = UpstreamFile(id=file_id, name=upload.filename, created_at=now())
        uploaded = UploadedFile(id=file_id, url=f"https://api.replicate.test/v1/files/{file_id}")
        return self._answer("upload_file", uploaded)

    async def delete_file(self, file_id: str) -> None:
        self._call("delete_file", file_id=file_id)
        self.files.pop(file_id, None)

    async def list_files(self, *, max_pages: int = 10) -> list[UpstreamFile]:
        self._call("list_files", max_pages=max_pages)
        oldest = datetime.min.replace(tzinfo=UTC)
        files = sorted(self.files.values(), key=lambda f: f.created_at or oldest, reverse=True)
        return files[: self.PAGE_SIZE * max_pages]

    async def create_training(
        self,
        *,
        trainer_version: str,
        destination: str,
        input: dict[str, Any],
        webhook: str | None,
        webhook_events: list[str],
    ) -> UpstreamTraining:
        arguments = self._call(
            "create_training",
            trainer_version=trainer_version,
            destination=destination,
            input=_as_json(input),
            webhook=webhook,
            webhook_events=list(webhook_events),
        )
        training = UpstreamTraining(
            id=f"t{next(self._ids)}",
            status=UpstreamStatus.STARTING,
            trigger_word=input.get("trigger_word"),
            images_url=input.get("input_images"),
            webhook=webhook,
            created_at=now(),
        )
        arguments["id"] = training.id
        self.trainings[training.id] = training
        return self._answer("create_training", training)

    async def get_training(self, training_id: str) -> UpstreamTraining | None:
        self._call("get_training", training_id=training_id)
        return self.trainings.get(training_id)

    async def list_trainings(
        self, *, max_pages: int = 1, created_after: datetime | None = None
    ) -> list[UpstreamTraining]:
        self._call("list_trainings", max_pages=max_pages, created_after=created_after)
        return _listed(list(self.trainings.values()), max_pages, created_after, self.PAGE_SIZE)

    async def cancel_training(self, training_id: str) -> UpstreamTraining:
        self._call("cancel_training", training_id=training_id)
        training = self.trainings.get(training_id)
        if training is None:
            raise UpstreamRejected(404, "Not found.")
        if not training.status.is_terminal:
            training = self.update_training(
                training_id, status=UpstreamStatus.CANCELED, completed_at=now()
            )
        return self._answer("cancel_training", training)

    async def get_version_input_schema(
        self, owner: str, name: str, version_id: str
    ) -> dict[str, Any] | None:
        self._call("get_version_input_schema", owner=owner, name=name, version_id=version_id)
        return self.version_inputs.get(version_id, dict(FULL_VERSION_INPUTS))

    async def list_model_versions(self, owner: str, name: str) -> list[str] | None:
        self._call("list_model_versions", owner=owner, name=name)
        if (owner, name) not in self.models:
            return None
        return list(reversed(self.model_versions.get((owner, name), [])))

    async def delete_model_version(self, owner: str, name: str, version_id: str) -> None:
        """Deletes the version and every prediction made with it."""
        self._call("delete_model_version", owner=owner, name=name, version_id=version_id)
        versions = self.model_versions.get((owner, name), [])
        if version_id not in versions:
            return
        versions.remove(version_id)
        for prediction in list(self.predictions.values()):
            if prediction.version == version_id:
                del self.predictions[prediction.id]
                self.prediction_bodies.pop(prediction.id, None)

    async def delete_model(self, owner: str, name: str) -> None:
        self._call("delete_model", owner=owner, name=name)
        if (owner, name) not in self.models:
            return
        if self.model_versions.get((owner, name)):
            raise UpstreamRejected(409, MODEL_HAS_VERSIONS)
        del self.models[(owner, name)]
        self.model_versions.pop((owner, name), None)
        self.deleted_models.add((owner, name))

    async def webhook_secret(self) -> str:
        self._call("webhook_secret")
        return "whsec_ZmFrZSBzZWNyZXQ="

    async def create_prediction(
        self,
        *,
        version: str,
        input: dict[str, Any],
        webhook: str | None,
        webhook_events: list[str],
    ) -> UpstreamPrediction:
        body = _as_json({"version": version, "input": input})
        self._call(
            "create_prediction", body=body, webhook=webhook, webhook_events=list(webhook_events)
        )
        prediction = UpstreamPrediction(
            id=f"p{next(self._ids)}",
            status=UpstreamStatus.STARTING,
            version=version.rpartition(":")[2],
            prompt=body["input"].get("prompt"),
            seed=body["input"].get("seed"),
            webhook=webhook,
            created_at=now(),
        )
        self.predictions[prediction.id] = prediction
        self.prediction_bodies[prediction.id] = body
        return self._answer("create_prediction", prediction)

    async def get_prediction(self, prediction_id: str) -> UpstreamPrediction | None:
        self._call("get_prediction", prediction_id=prediction_id)
        return self.predictions.get(prediction_id)

    async def list_predictions(
        self, *, max_pages: int = 1, created_after: datetime | None = None
    ) -> list[UpstreamPrediction]:
        self._call("list_predictions", max_pages=max_pages, created_after=created_after)
        return _listed(list(self.predictions.values()), max_pages, created_after, self.PAGE_SIZE)

    async def cancel_prediction(self, prediction_id: str) -> UpstreamPrediction:
        self._call("cancel_prediction", prediction_id=prediction_id)
        prediction = self.predictions.get(prediction_id)
        if prediction is None:
            raise UpstreamRejected(404, "Not found.")
        if not prediction.status.is_terminal:
            prediction = self.update_prediction(
                prediction_id, status=UpstreamStatus.CANCELED, completed_at=now()
            )
        return self._answer("cancel_prediction", prediction)

    def _call(self, name: str, /, **arguments: Any) -> dict[str, Any]:
        self.calls.append(Call(name, arguments))
        scripted = self._failures.get(name)
        if scripted:
            raise scripted.pop(0)
        return arguments

    def _answer(self, name: str, answer: T) -> T:
        if self._lost_answers.get(name, 0) > 0:
            self._lost_answers[name] -= 1
            raise UpstreamUnavailable("The request timed out.", may_have_arrived=True)
        return answer


# -- images and selfies --------------------------------------------------------------------


class FakeImageStorage:
    def __init__(self) -> None:
        self.saved: dict[str, tuple[bytes, str]] = {}
        self.saved_at: dict[str, datetime] = {}  # a test may backdate an object

    async def save(self, key: str, content: bytes, content_type: str) -> None:
        self.saved[key] = (content, content_type)
        self.saved_at[key] = datetime.now(UTC)

    async def read(self, key: str) -> bytes | None:
        kept = self.saved.get(key)
        return kept[0] if kept else None

    async def delete(self, key: str) -> None:
        self.saved.pop(key, None)
        self.saved_at.pop(key, None)

    async def presigned_url(self, key: str, *, expires_in_seconds: int) -> str | None:
        return None

    async def list_objects(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        for key in [key for key in self.saved if key.startswith(prefix)]:
            yield StoredObject(key, self.saved_at.get(key, datetime.now(UTC)))

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix.endswith("/"):
            raise ValueError(f"Not a valid key prefix to delete under: {prefix!r}")
        doomed = [key for key in self.saved if key.startswith(prefix)]
        for key in doomed:
            await self.delete(key)
        return len(doomed)


class FakeOutputFetcher:
    """Serves a small PNG for every URL, but for those given an error; `gate` (set by
    default) holds every fetch while cleared."""

    def __init__(self) -> None:
        self.errors: dict[str, OutputFetchError] = {}
        self.fetched: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self._attempted = asyncio.Event()

    async def wait_for_attempt(self, url: str, *, within: float = 2.0) -> None:
        """Returns once `url` was asked for (the fetch has answered or raised by then)."""
        async with asyncio.timeout(within):
            while url not in self.fetched:
                self._attempted.clear()
                await self._attempted.wait()

    async def fetch(self, url: str, *, expected_type: str | None = None) -> FetchedImage:
        await self.gate.wait()
        self.fetched.append(url)
        self._attempted.set()
        error = self.errors.get(url)
        if error is not None:
            raise error
        content_type = expected_type or "image/png"
        return FetchedImage(f"image at {url}".encode(), content_type, 768, 1024)


class FakeSelfieProcessor:
    """Cleans nothing: each upload is its own "JPEG", fingerprinted by its bytes (the real
    decoding is tested in tests/unit/test_selfies.py)."""

    def __init__(self) -> None:
        self.cleaned = 0

    async def clean(
        self, selfies: Sequence[ReadSelfie], limits: SelfieLimits
    ) -> list[CleanedSelfie]:
        self.cleaned += len(selfies)
        return [CleanedSelfie(s.data, hashlib.sha256(s.data).digest()) for s in selfies]


@dataclass
class FakeUpload:
    """A selfie upload (a `SelfieSource`)."""

    data: bytes
    filename: str | None = None
    _offset: int = 0

    async def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self._offset + size
        chunk = self.data[self._offset : end]
        self._offset += len(chunk)
        return chunk


def fake_selfies(count: int = 10) -> list[FakeUpload]:
    """Distinct uploads with a JPEG signature, cheap to "clean"."""
    return [FakeUpload(b"\xff\xd8\xff" + f"selfie {n}".encode(), f"{n}.jpg") for n in range(count)]


# -- helpers ------------------------------------------------------------------------------


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise FakeIntegrityError(what)


def _existing(rows: dict[str, T], key: str) -> T:
    row = rows.get(key)
    if row is None:
        raise LookupError(f"no row {key}")
    return row


def _active(job: TrainingJob) -> bool:
    return not job.status.is_terminal


def _count_anonymously(
    tables: Tables, kind: UsageKind, rows: Iterable[TrainingJob | Generation]
) -> None:
    """Adds the rows to the anonymous usage of their (UTC) day."""
    for row in rows:
        key = (row.created_at.astimezone(UTC).date(), kind)
        tables.anonymous_usage[key] = tables.anonymous_usage.get(key, 0) + 1


def _delete_generations(tables: Tables, generation_ids: set[str]) -> None:
    """Deletes the generations and their images (ON DELETE CASCADE)."""
    for image in [i for i in tables.images.values() if i.generation_id in generation_ids]:
        del tables.images[image.id]
    for generation_id in generation_ids:
        tables.generations.pop(generation_id, None)
        tables.heard.pop(generation_id, None)


def _require_unique_upstream_id(
    row_id: str, upstream_id: str | None, rows: Iterable[Any], kind: str
) -> None:
    if upstream_id is None:
        return
    for row in rows:
        other = getattr(row, f"replicate_{kind}_id")
        _require(row.id == row_id or other != upstream_id, f"{kind} {upstream_id} is taken")


class _Row(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


R = TypeVar("R", bound=_Row)


def _newest_first(rows: Iterable[R]) -> list[R]:
    return sorted(rows, key=lambda row: (row.created_at, row.id), reverse=True)


def _page(rows: list[R], first: int, after: tuple[datetime, str] | None) -> Page[R]:
    ordered = _newest_first(rows)
    if after is not None:
        ordered = [row for row in ordered if (row.created_at, row.id) < after]
    return Page(ordered[:first], has_next=len(ordered) > first)


def _claim(
    tables: Tables,
    rows: dict[str, T],
    claimable: Callable[[T], bool],
    unconfirmed: Callable[[T], bool],
    *,
    silent_for_seconds: float,
    lease_seconds: float,
    limit: int,
) -> list[T]:
    moment = now()
    silent_since = moment - timedelta(seconds=silent_for_seconds)

    def stale(key: str, row: T) -> bool:
        heard = tables.heard[key]
        free = heard.lease_until is None or heard.lease_until < moment
        return claimable(row) and free and (heard.last_heard_at <= silent_since or unconfirmed(row))

    keys = sorted(
        (key for key, row in rows.items() if stale(key, row)),
        key=lambda key: tables.heard[key].last_heard_at,
    )[:limit]
    for key in keys:
        tables.heard[key] = replace(
            tables.heard[key], lease_until=moment + timedelta(seconds=lease_seconds)
        )
    return [rows[key] for key in keys]


U = TypeVar("U", UpstreamTraining, UpstreamPrediction)


def _listed(jobs: list[U], max_pages: int, created_after: datetime | None, size: int) -> list[U]:
    """Newest first, page by page; no page read after one reaching before `created_after`."""
    ordered = sorted(jobs, key=lambda job: job.created_at or datetime.min.replace(tzinfo=UTC))
    ordered.reverse()
    listed: list[U] = []
    for start in range(0, size * max_pages, size):
        page = ordered[start : start + size]
        listed.extend(page)
        reached = any(
            job.created_at and created_after and job.created_at < created_after for job in page
        )
        if len(page) < size or reached:
            break
    return listed


def _as_json(value: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(json.dumps(value))
    return decoded
