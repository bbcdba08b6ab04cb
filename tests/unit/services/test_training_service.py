"""TrainingService's rules on fakes: start, refusals, lost starts, reports, reconcile, cancel."""

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.allowances import Allowances
from domain.errors import QuotaExceeded, TrainingInProgress, UpstreamRejected, UpstreamUnavailable
from domain.training.models import TrainingJob, TrainingStatus
from domain.training.service import (
    CANCEL_FAILED_MESSAGE,
    LOST_START_MESSAGE,
    START_FAILED_MESSAGE,
    TrainingService,
)
from domain.upstream import UnconfirmedReport, UpstreamStatus
from domain.users.models import ModelStatus, User
from tests.unit.fakes import (
    FakeDatabase,
    FakeReplicate,
    fake_selfies,
)
from tests.unit.services.conftest import TrainingFactory, reconcile


@pytest.fixture
def alice(db: FakeDatabase) -> User:
    return db.add_user("alice1")


@pytest.fixture
def one_a_day(make_training: TrainingFactory) -> TrainingService:
    """Allows each user one training a day."""
    return make_training(allowances=Allowances(daily_trainings=1))


def statuses_announced(db: FakeDatabase) -> list[str]:
    return [notice["status"] for _, notice in db.notices if notice]


def add_earlier_training(db: FakeDatabase, user: User, status: TrainingStatus) -> None:
    db.add_model(user.id)
    db.add_training(user.id, status=status, replicate_training_id="t0")


async def assert_start_refused(
    service: TrainingService,
    user: User,
    error: type[Exception],
    db: FakeDatabase,
    replicate: FakeReplicate,
) -> None:
    """The start raises `error` with nothing sent upstream and no row changed."""
    before = db.snapshot()
    with pytest.raises(error):
        await service.start(user, fake_selfies())
    assert replicate.calls == []
    assert db.tables == before


async def start_upstream(training: TrainingService, user: User) -> tuple[TrainingJob, str]:
    """A start that reached the provider: the job and its Replicate training id."""
    job = (await training.start(user, fake_selfies())).job
    assert job.replicate_training_id is not None
    return job, job.replicate_training_id


async def test_a_start_records_the_job_queued_then_follows_it_upstream(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    started = await training.start(alice, fake_selfies())

    assert statuses_announced(db) == ["QUEUED", "STARTING"]
    assert started.job.status is TrainingStatus.STARTING
    assert started.job.replicate_training_id in replicate.trainings
    assert started.model.status is ModelStatus.TRAINING
    [created] = replicate.calls_to("create_training")
    assert created["input"]["trigger_word"] == "useralice1"
    assert created["input"]["input_images"] == started.job.images_url
    assert created["destination"] == "studio/alice1-selfie-lora"
    assert f"training_job={started.job.id}" in created["webhook"]
    assert db.tables.owners == {"studio": 1}


async def test_a_user_with_an_active_training_is_refused_with_nothing_sent_or_changed(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    add_earlier_training(db, alice, TrainingStatus.PROCESSING)

    await assert_start_refused(training, alice, TrainingInProgress, db, replicate)


async def test_the_daily_quota_refuses_with_nothing_sent_or_changed(
    one_a_day: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    add_earlier_training(db, alice, TrainingStatus.SUCCEEDED)

    await assert_start_refused(one_a_day, alice, QuotaExceeded, db, replicate)


async def test_a_training_that_never_reached_the_provider_does_not_count(
    one_a_day: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    replicate.fail_next("create_training", UpstreamRejected(422, "bad input"))

    with pytest.raises(UpstreamUnavailable, match="could not be started"):
        await one_a_day.start(alice, fake_selfies())
    started = await one_a_day.start(alice, fake_selfies())

    assert started.job.status is TrainingStatus.STARTING


async def test_a_refused_create_fails_the_job_and_frees_the_user(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    replicate.fail_next("create_training", UpstreamRejected(422, "bad input"))

    with pytest.raises(UpstreamUnavailable) as refused:
        await training.start(alice, fake_selfies())

    assert refused.value.message == START_FAILED_MESSAGE
    [job] = db.tables.training_jobs.values()
    assert job.status is TrainingStatus.FAILED
    assert job.replicate_training_id is None
    assert "bad input" in (job.upstream_error or "")
    [model] = db.tables.user_models.values()
    assert model.status is ModelStatus.FAILED


async def test_a_failed_upload_never_sends_the_create(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    replicate.fail_next("upload_file", UpstreamUnavailable("provider down"))

    with pytest.raises(UpstreamUnavailable):
        await training.start(alice, fake_selfies())

    assert replicate.calls_to("create_training") == []
    [job] = db.tables.training_jobs.values()
    assert job.status is TrainingStatus.FAILED


async def test_a_lost_create_answer_leaves_the_job_to_the_reconciler_which_adopts_it(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    replicate.lose_next_answer("create_training")

    started = await training.start(alice, fake_selfies())
    assert started.job.status is TrainingStatus.QUEUED
    job = db.tables.training_jobs[started.job.id]
    assert job.replicate_training_id is None
    assert job.images_url is not None

    assert await reconcile(training) == 1

    [upstream] = replicate.trainings.values()
    adopted = db.tables.training_jobs[job.id]
    assert adopted.replicate_training_id == upstream.id
    assert adopted.status is TrainingStatus.STARTING
    assert len(replicate.calls_to("create_training")) == 1


async def test_a_lost_start_found_nowhere_waits_out_the_grace_then_fails(
    training: TrainingService,
    make_training: TrainingFactory,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    replicate.fail_next("create_training", UpstreamUnavailable("timed out", may_have_arrived=True))
    started = await training.start(alice, fake_selfies())

    await reconcile(training)
    assert db.tables.training_jobs[started.job.id].status is TrainingStatus.QUEUED

    impatient = make_training(start_grace=timedelta(0))
    await reconcile(impatient)
    failed = db.tables.training_jobs[started.job.id]
    assert failed.status is TrainingStatus.FAILED
    assert failed.error == LOST_START_MESSAGE
    assert len(replicate.calls_to("create_training")) == 1


async def test_reports_move_a_training_forward_only(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job, upstream_id = await start_upstream(training, alice)
    logs = "flux_train_replicate: 50%|#####     | 500/1000 [01:00<01:00]"
    running = replicate.update_training(upstream_id, status=UpstreamStatus.PROCESSING, logs=logs)
    await training.apply(job.id, running)
    announced = len(db.notices)

    stale = replace(running, status=UpstreamStatus.STARTING, logs="")
    after = await training.apply(job.id, stale)

    assert after is not None
    assert (after.status, after.progress) == (TrainingStatus.PROCESSING, 0.5)
    assert len(db.notices) == announced


async def test_a_webhook_delivered_twice_is_applied_once(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job, upstream_id = await start_upstream(training, alice)
    running = replicate.update_training(upstream_id, status=UpstreamStatus.PROCESSING)

    await training.apply_webhook(job.id, running, webhook_id="hook-1")
    before = db.snapshot()
    done = replace(running, status=UpstreamStatus.FAILED, error="late")
    await training.apply_webhook(job.id, done, webhook_id="hook-1")

    assert db.tables == before


async def test_a_webhook_naming_another_training_changes_nothing(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job, upstream_id = await start_upstream(training, alice)
    other = replace(replicate.trainings[upstream_id], id="t-other")
    before = db.snapshot()

    with pytest.raises(UnconfirmedReport):
        await training.apply_webhook(job.id, other, webhook_id="hook-2")

    assert db.tables == before


async def test_a_succeeded_training_gives_the_model_its_version(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job, upstream_id = await start_upstream(training, alice)

    finished = await training.apply(job.id, replicate.succeed_training(upstream_id))

    assert finished is not None
    assert (finished.status, finished.progress) == (TrainingStatus.SUCCEEDED, 1.0)
    [model] = db.tables.user_models.values()
    assert (model.status, model.replicate_version_id) == (ModelStatus.READY, "v1")
    assert model.input_names is not None
    assert model.input_names["guidance"] == "guidance_scale"


async def test_a_version_that_cannot_take_the_locked_parameters_fails_the_training(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job, upstream_id = await start_upstream(training, alice)
    replicate.version_inputs["v1"] = {"prompt": {}}

    finished = await training.apply(job.id, replicate.succeed_training(upstream_id))

    assert finished is not None
    assert finished.status is TrainingStatus.FAILED
    [model] = db.tables.user_models.values()
    assert model.status is ModelStatus.FAILED
    assert model.unusable_reason is not None


async def test_the_reconciler_polls_a_silent_training(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job, upstream_id = await start_upstream(training, alice)
    replicate.update_training(upstream_id, status=UpstreamStatus.PROCESSING)

    assert await reconcile(training) == 1

    assert db.tables.training_jobs[job.id].status is TrainingStatus.PROCESSING


async def test_a_training_whose_poll_failed_stays_leased_for_another_round(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job = (await training.start(alice, fake_selfies())).job
    replicate.fail_next("get_training", UpstreamUnavailable("provider down"))

    assert await reconcile(training) == 1
    assert await reconcile(training) == 0

    assert db.tables.training_jobs[job.id].status is TrainingStatus.STARTING


async def test_a_training_gone_upstream_fails(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job = (await training.start(alice, fake_selfies())).job
    replicate.trainings.clear()

    await reconcile(training)

    assert db.tables.training_jobs[job.id].status is TrainingStatus.FAILED


async def test_canceling_a_job_not_submitted_yet_ends_it_here_alone(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    db.add_model(alice.id)
    job = db.add_training(alice.id)

    canceled = await training.cancel(alice, job.id)

    assert canceled.status is TrainingStatus.CANCELED
    assert replicate.calls == []


async def test_a_canceled_queued_training_is_canceled_upstream_once_found(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    replicate.lose_next_answer("create_training")
    job = (await training.start(alice, fake_selfies())).job
    assert (await training.cancel(alice, job.id)).status is TrainingStatus.CANCELED
    assert replicate.calls_to("cancel_training") == []

    await reconcile(training)
    await reconcile(training)

    [upstream] = replicate.trainings.values()
    assert replicate.calls_to("cancel_training") == [{"training_id": upstream.id}]
    assert upstream.status is UpstreamStatus.CANCELED
    assert db.tables.training_jobs[job.id].replicate_training_id == upstream.id


async def test_canceling_a_running_training_cancels_it_upstream(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job = (await training.start(alice, fake_selfies())).job

    canceled = await training.cancel(alice, job.id)

    assert canceled.status is TrainingStatus.CANCELED
    assert replicate.calls_to("cancel_training") == [{"training_id": job.replicate_training_id}]


async def test_a_cancel_the_provider_refuses_changes_nothing(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job = (await training.start(alice, fake_selfies())).job
    replicate.fail_next("cancel_training", UpstreamRejected(409, "cannot cancel"))
    before = db.snapshot()

    with pytest.raises(UpstreamUnavailable) as refused:
        await training.cancel(alice, job.id)

    assert refused.value.message == CANCEL_FAILED_MESSAGE
    assert db.tables == before


async def test_a_lost_start_is_found_by_its_upload_without_webhooks(
    make_training: TrainingFactory,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    polling = make_training(webhooks=None)
    replicate.lose_next_answer("create_training")
    job = (await polling.start(alice, fake_selfies())).job

    await reconcile(polling)

    [upstream] = replicate.trainings.values()
    assert upstream.webhook is None
    assert db.tables.training_jobs[job.id].replicate_training_id == upstream.id
