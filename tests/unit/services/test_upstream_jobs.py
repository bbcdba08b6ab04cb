"""The upstream-job engine's rules, for each kind (trainings, generations), on fakes."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from domain.errors import UpstreamUnavailable
from domain.generation.kind import GenerationKind
from domain.training.kind import TrainingKind
from domain.upstream import UnconfirmedReport, UpstreamStatus, WebhookOutcome
from domain.upstream_jobs.engine import UpstreamJobs
from domain.upstream_jobs.kind import LocalEnd
from tests.unit.fakes import FakeDatabase, FakeReplicate, FakeUnitOfWorkFactory
from tests.unit.services.conftest import WEBHOOKS

KINDS = ["training", "generation"]
GRACE = timedelta(minutes=2)


@dataclass
class Case:
    """One kind on the fakes: its engine, a job of it not yet sent, and its create request."""

    kind: str
    db: FakeDatabase
    replicate: FakeReplicate
    make_engine: Callable[[timedelta], UpstreamJobs[Any, Any]]
    job: Any
    create: Callable[[], Awaitable[Any]]
    words: type[TrainingKind] | type[GenerationKind]

    @property
    def engine(self) -> UpstreamJobs[Any, Any]:
        return self.make_engine(GRACE)

    def row(self) -> Any:
        tables = self.db.tables
        rows: dict[str, Any] = (
            tables.training_jobs if self.kind == "training" else tables.generations
        )
        return rows[self.job.id]

    def upstream_id(self) -> str | None:
        row = self.row()
        found: str | None = (
            row.replicate_training_id if self.kind == "training" else row.replicate_prediction_id
        )
        return found

    def status(self) -> str:
        return str(self.row().status.value)

    def report(self, upstream_id: str, **changes: Any) -> Any:
        if self.kind == "training":
            return self.replicate.update_training(upstream_id, **changes)
        return self.replicate.update_prediction(upstream_id, **changes)

    def upstream_jobs(self) -> list[Any]:
        return [*self.replicate.trainings.values(), *self.replicate.predictions.values()]

    @property
    def create_call(self) -> str:
        return "create_training" if self.kind == "training" else "create_prediction"

    @property
    def cancel_call(self) -> str:
        return "cancel_training" if self.kind == "training" else "cancel_prediction"


@pytest.fixture(params=KINDS)
def case(
    request: pytest.FixtureRequest,
    db: FakeDatabase,
    uow: FakeUnitOfWorkFactory,
    replicate: FakeReplicate,
) -> Case:
    db.add_user("alice1")
    db.add_model("alice1")
    if request.param == "training":

        def training_engine(grace: timedelta) -> UpstreamJobs[Any, Any]:
            kind = TrainingKind(uow, replicate, grace)
            return UpstreamJobs(uow, kind, webhooks=WEBHOOKS, start_grace=grace, lost_start_pages=1)

        job: Any = db.add_training("alice1", images_url="https://api.replicate.test/v1/files/f0")

        def create_training() -> Awaitable[Any]:
            return replicate.create_training(
                trainer_version="trainer:v0",
                destination="studio/alice1-selfie-lora",
                input={"input_images": job.images_url},
                webhook=training_engine(GRACE).webhook_for(job),
                webhook_events=["completed"],
            )

        return Case("training", db, replicate, training_engine, job, create_training, TrainingKind)

    def generation_engine(grace: timedelta) -> UpstreamJobs[Any, Any]:
        kind = GenerationKind(replicate)
        return UpstreamJobs(uow, kind, webhooks=WEBHOOKS, start_grace=grace, lost_start_pages=1)

    job = db.add_generation("alice1")

    def create_prediction() -> Awaitable[Any]:
        return replicate.create_prediction(
            version=job.replicate_version,
            input={"prompt": job.prompt, "seed": job.parameters.seed},
            webhook=generation_engine(GRACE).webhook_for(job),
            webhook_events=["completed"],
        )

    return Case(
        "generation", db, replicate, generation_engine, job, create_prediction, GenerationKind
    )


async def reconcile(engine: UpstreamJobs[Any, Any]) -> int:
    return await engine.reconcile(silent_for_seconds=0.0, lease_seconds=60.0, batch=10)


async def started(case: Case) -> str:
    """The job sent and running upstream: its upstream id."""
    await case.engine.submit(case.job, case.create)
    upstream_id = case.upstream_id()
    assert upstream_id is not None
    return upstream_id


# -- starting ---------------------------------------------------------------------------------


async def test_a_create_answer_is_applied(case: Case) -> None:
    upstream_id = await started(case)

    assert case.status() == "STARTING"
    assert [upstream.id for upstream in case.upstream_jobs()] == [upstream_id]


async def test_a_create_that_may_have_arrived_is_never_sent_again_and_is_adopted(
    case: Case,
) -> None:
    case.replicate.lose_next_answer(case.create_call)
    before = case.db.snapshot()

    returned = await case.engine.submit(case.job, case.create)

    assert returned == case.job
    assert case.db.tables == before
    assert await reconcile(case.engine) == 1
    [adopted] = case.upstream_jobs()
    assert case.upstream_id() == adopted.id
    await reconcile(case.engine)
    assert len(case.replicate.calls_to(case.create_call)) == 1


async def test_a_create_that_surely_failed_fails_the_job_and_is_not_retried(case: Case) -> None:
    case.replicate.fail_next(case.create_call, UpstreamUnavailable("down"))
    engine = case.engine

    with pytest.raises(UpstreamUnavailable) as refused:
        await engine.submit(case.job, case.create)

    assert refused.value.message == case.words.start_failed_message
    assert case.status() == "FAILED"
    assert case.row().upstream_error == "down"
    assert len(case.replicate.calls_to(case.create_call)) == 1


async def test_a_job_ended_here_while_its_create_was_out_has_its_upstream_job_canceled(
    case: Case,
) -> None:
    engine = case.engine

    async def create_while_canceled() -> Any:
        created = await case.create()
        await engine.finish_locally(case.job.id, LocalEnd(canceled=True))
        return created

    await engine.submit(case.job, create_while_canceled)

    assert case.status() == "CANCELED"
    [orphan] = case.upstream_jobs()
    assert orphan.status is UpstreamStatus.CANCELED
    assert len(case.replicate.calls_to(case.cancel_call)) == 1


# -- applying reports ---------------------------------------------------------------------------


async def test_reports_move_a_job_forward_only(case: Case) -> None:
    upstream_id = await started(case)
    running = case.report(upstream_id, status=UpstreamStatus.PROCESSING)
    await case.engine.apply(case.job.id, running)
    before = case.row()
    notices = len(case.db.notices)

    await case.engine.apply(case.job.id, replace(running, status=UpstreamStatus.STARTING))

    assert case.status() == "PROCESSING"
    assert replace(case.row(), updated_at=before.updated_at) == before
    assert len(case.db.notices) == notices


async def test_a_report_on_another_upstream_job_changes_nothing(case: Case) -> None:
    upstream_id = await started(case)
    other = replace(case.report(upstream_id), id="x-other", status=UpstreamStatus.FAILED)
    before = case.db.snapshot()
    notices = len(case.db.notices)

    returned = await case.engine.apply(case.job.id, other)

    assert returned == case.row()
    assert case.db.tables == before
    assert len(case.db.notices) == notices


async def test_a_webhook_delivered_twice_is_applied_once(case: Case) -> None:
    upstream_id = await started(case)
    running = case.report(upstream_id, status=UpstreamStatus.PROCESSING)
    await case.engine.apply_webhook(case.job.id, running, webhook_id="hook-1")
    before = case.db.snapshot()

    await case.engine.apply_webhook(
        case.job.id, replace(running, status=UpstreamStatus.FAILED), webhook_id="hook-1"
    )

    assert case.db.tables == before


async def test_a_webhook_says_whether_it_applied_came_twice_or_named_no_job(case: Case) -> None:
    upstream_id = await started(case)
    running = case.report(upstream_id, status=UpstreamStatus.PROCESSING)

    first = await case.engine.apply_webhook(case.job.id, running, webhook_id="hook-1")
    again = await case.engine.apply_webhook(case.job.id, running, webhook_id="hook-1")
    unknown = await case.engine.apply_webhook("no-such-job", running, webhook_id="hook-2")

    assert (first, again, unknown) == (
        WebhookOutcome.APPLIED,
        WebhookOutcome.DUPLICATE,
        WebhookOutcome.UNKNOWN_JOB,
    )


async def test_a_webhook_for_a_job_not_yet_sent_is_adopted_only_once_confirmed(
    case: Case,
) -> None:
    case.replicate.lose_next_answer(case.create_call)
    await case.engine.submit(case.job, case.create)
    [ours] = case.upstream_jobs()
    forged = replace(ours, id="x-forged", status=UpstreamStatus.FAILED)
    before = case.db.snapshot()

    with pytest.raises(UnconfirmedReport):
        await case.engine.apply_webhook(case.job.id, forged, webhook_id="hook-1")
    assert case.db.tables == before

    await case.engine.apply_webhook(
        case.job.id, replace(ours, status=UpstreamStatus.FAILED), webhook_id="hook-2"
    )
    # What Replicate confirms is applied, not what the body said.
    assert (case.upstream_id(), case.status()) == (ours.id, "STARTING")


async def test_a_webhook_naming_another_upstream_job_is_refused_unfetched(case: Case) -> None:
    upstream_id = await started(case)
    other = replace(case.report(upstream_id), id="x-other")
    before = case.db.snapshot()
    calls = len(case.replicate.calls)

    with pytest.raises(UnconfirmedReport):
        await case.engine.apply_webhook(case.job.id, other, webhook_id="hook-1")

    assert case.db.tables == before
    assert len(case.replicate.calls) == calls


# -- ending and reconciling ---------------------------------------------------------------------


async def test_finishing_locally_twice_ends_the_job_once(case: Case) -> None:
    engine = case.engine
    ended = await engine.finish_locally(case.job.id, LocalEnd(message="first"))
    before = case.db.snapshot()
    notices = len(case.db.notices)

    again = await engine.finish_locally(case.job.id, LocalEnd(canceled=True, message="second"))

    assert again == ended
    assert (case.status(), case.row().error) == ("FAILED", "first")
    assert case.db.tables == before
    assert len(case.db.notices) == notices


async def test_a_lost_start_waits_out_the_grace_then_fails(case: Case) -> None:
    case.replicate.fail_next(
        case.create_call, UpstreamUnavailable("timed out", may_have_arrived=True)
    )
    await case.engine.submit(case.job, case.create)

    await reconcile(case.engine)
    assert case.status() == case.job.status.value
    assert await reconcile(case.engine) == 1  # waiting freed its lease

    impatient = case.make_engine(timedelta(0))
    await reconcile(impatient)
    assert case.status() == "FAILED"
    assert case.row().error == case.words.lost_start.message
    assert len(case.replicate.calls_to(case.create_call)) == 1


async def test_a_job_no_longer_known_upstream_fails(case: Case) -> None:
    upstream_id = await started(case)
    case.replicate.trainings.pop(upstream_id, None)
    case.replicate.predictions.pop(upstream_id, None)

    await reconcile(case.engine)

    assert case.status() == "FAILED"
    assert case.row().upstream_error == f"{case.words.upstream_name} not found upstream"


async def test_a_claimed_job_whose_round_raises_is_logged_and_the_round_goes_on(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    await started(case)
    seen: list[str] = []

    async def raising(job: Any, _: object) -> None:
        seen.append(job.id)
        raise RuntimeError("a bug met while reconciling")

    engine = case.engine
    monkeypatch.setattr(engine, "reconcile_one", raising)
    assert await engine.reconcile(silent_for_seconds=0.0, lease_seconds=60.0, batch=10) == 1
    assert seen == [case.job.id]
