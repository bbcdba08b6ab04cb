"""What a kind of upstream job (a training, a generation) supplies to the engine: its rows,
its Replicate calls, its transition table and what its own rules add to them."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from domain.job_status import JobStatus
from domain.ports import UnitOfWork
from domain.upstream import UpstreamStatus
from domain.webhook_links import WebhookKind


class Job(Protocol):
    """A local job row: what the engine reads of it."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> JobStatus: ...

    @property
    def created_at(self) -> datetime: ...


class Report(Protocol):
    """What Replicate says of the job it runs (a GET, a listing, a webhook's body)."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> UpstreamStatus: ...


J = TypeVar("J", bound=Job)
R = TypeVar("R", bound=Report)

# What applying a report does beyond the transition table, inside its transaction:
# (unit of work, the job before, the job the table made) -> the job to save.
Settle = Callable[[UnitOfWork, J, J], Awaitable[J]]


@dataclass(frozen=True, slots=True)
class LocalEnd:
    """How a job ends without a report from Replicate saying so."""

    canceled: bool = False  # else failed
    # What the user reads; None: the kind's own words for that ending.
    message: str | None = None
    upstream_error: str | None = None


class JobRepository(Protocol[J]):
    async def get(self, job_id: str, *, lock: bool = False) -> J | None: ...

    async def save(self, job: J, /) -> J:
        """Stores the job and that Replicate was heard from now; frees its lease."""
        ...


class JobKind(Protocol[J, R]):
    # Log words: the local job ("training", "generation") and Replicate's ("prediction").
    name: str
    upstream_name: str
    webhook_kind: WebhookKind
    # What the user reads when the create request fails, or a cancel is not accepted.
    start_failed_message: str
    cancel_failed_message: str
    # How a job ends that Replicate never confirmed within the start grace.
    lost_start: LocalEnd

    def jobs(self, uow: UnitOfWork) -> JobRepository[J]: ...

    async def claim_stale(
        self, uow: UnitOfWork, *, silent_for_seconds: float, lease_seconds: float, limit: int
    ) -> list[J]:
        """The jobs for this reconciler round, now leased (see the repositories)."""
        ...

    def upstream_id(self, job: J) -> str | None: ...

    def with_upstream_id(self, job: J, upstream_id: str) -> J: ...

    def may_have_been_sent(self, job: J) -> bool:
        """Whether a create request for the job may have gone out (a lost start to look for)."""
        ...

    def is_own(self, job: J, report: R) -> bool:
        """Whether Replicate's job is the one this job created (a listing or a webhook
        naming a job with no upstream id yet)."""
        ...

    async def fetch(self, upstream_id: str) -> R | None: ...

    async def list_recent(self, *, max_pages: int, created_after: datetime) -> list[R]: ...

    async def cancel(self, upstream_id: str) -> R: ...

    def as_canceled(self, report: R) -> R: ...

    def advance(self, job: J, report: R, now: datetime) -> J:
        """The pure transition table: the job after this report."""
        ...

    def changed(self, before: J, after: J) -> bool:
        """Whether followers hear of it."""
        ...

    async def prepare(self, job_id: str, report: R) -> Settle[J]:
        """How to settle this report: reads anything it needs before the transaction opens
        (it may raise UpstreamUnavailable: nothing is recorded, the report can come again)."""
        ...

    async def end_locally(self, uow: UnitOfWork, job: J, end: LocalEnd, now: datetime) -> J:
        """The job ended so, with whatever else its ending changes in that transaction."""
        ...

    async def announce(self, uow: UnitOfWork, job: J) -> None: ...

    def has_local_work(self, job: J) -> bool:
        """Whether Replicate is done with it and the rest is ours (queued, not polled)."""
        ...

    async def queue_local_work(self, uow: UnitOfWork, job: J) -> None: ...
