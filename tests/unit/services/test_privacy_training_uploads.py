"""The selfies are not kept: an ending training queues its upload's deletion, the task
deletes it from the provider's file store once, and the reconciler catches missed ones."""

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import AccountDeleted, BadUserInput, UpstreamRejected, UpstreamUnavailable
from domain.events import EventHub
from domain.training.models import TrainingJob, TrainingStatus
from domain.training.service import UPLOAD_DELETION_GRACE, TrainingConfig, TrainingService
from domain.upstream import FileUpload, UploadedFile, UpstreamStatus, UpstreamTraining
from domain.users.models import User
from tests.unit.fakes import (
    FakeDatabase,
    FakeReplicate,
    FakeSelfieProcessor,
    FakeUnitOfWorkFactory,
    fake_selfies,
    now,
)
from tests.unit.services.conftest import WEBHOOKS, reconcile

ENDED = [TrainingStatus.SUCCEEDED, TrainingStatus.FAILED, TrainingStatus.CANCELED]


@pytest.fixture
def alice(db: FakeDatabase) -> User:
    return db.add_user("alice1")


async def start_upstream(
    training: TrainingService, replicate: FakeReplicate, user: User
) -> tuple[TrainingJob, str]:
    """A start that reached the provider: the job (holding its upload) and its training id."""
    job = (await training.start(user, fake_selfies())).job
    assert job.replicate_training_id is not None
    assert job.upload_file_id in replicate.files
    return job, job.replicate_training_id


def ending_report(
    replicate: FakeReplicate, upstream_id: str, status: TrainingStatus
) -> UpstreamTraining:
    if status is TrainingStatus.SUCCEEDED:
        return replicate.succeed_training(upstream_id)
    upstream_status = UpstreamStatus(status.value.lower())
    return replicate.update_training(
        upstream_id, status=upstream_status, completed_at=now(), error="stopped"
    )


def ended_job(
    db: FakeDatabase, user: User, *, ended_ago: timedelta, with_upload: bool = True
) -> TrainingJob:
    """A training of the user that ended `ended_ago`, holding an upload unless told not."""
    if not any(m.user_id == user.id for m in db.tables.user_models.values()):
        db.add_model(user.id)
    job = db.add_training(user.id, status=TrainingStatus.SUCCEEDED, created_at=now() - ended_ago)
    if with_upload:
        job = replace(job, upload_file_id=f"f-{job.id}")
        db.tables.training_jobs[job.id] = job
    return job


@pytest.mark.parametrize("status", ENDED)
async def test_a_training_ending_upstream_queues_deleting_its_upload(
    training: TrainingService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
    status: TrainingStatus,
) -> None:
    job, upstream_id = await start_upstream(training, replicate, alice)
    assert db.take_upload_deletion_tasks() == []

    ended = await training.apply(job.id, ending_report(replicate, upstream_id, status))

    assert ended is not None
    assert ended.status is status
    assert db.take_upload_deletion_tasks() == [job.id]


async def test_a_running_report_queues_nothing(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job, upstream_id = await start_upstream(training, replicate, alice)

    running = replicate.update_training(upstream_id, status=UpstreamStatus.PROCESSING)
    await training.apply(job.id, running)

    assert db.tables.upload_deletion_tasks == []


async def test_a_training_canceled_before_submission_queues_deleting_its_upload(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    db.add_model(alice.id)
    job = db.add_training(alice.id, upload_file_id="f1", images_url="https://files.test/f1")

    canceled = await training.cancel(alice, job.id)

    assert canceled.status is TrainingStatus.CANCELED
    assert db.take_upload_deletion_tasks() == [job.id]


async def test_a_training_ended_here_with_no_upload_queues_nothing(
    training: TrainingService, db: FakeDatabase, alice: User
) -> None:
    db.add_model(alice.id)
    job = db.add_training(alice.id)

    await training.cancel(alice, job.id)

    assert db.tables.upload_deletion_tasks == []


async def test_a_start_the_provider_refuses_queues_deleting_the_upload_it_sent(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    replicate.fail_next("create_training", UpstreamRejected(422, "bad input"))

    with pytest.raises(UpstreamUnavailable):
        await training.start(alice, fake_selfies())

    [job] = db.tables.training_jobs.values()
    assert job.status is TrainingStatus.FAILED
    assert job.upload_file_id in replicate.files
    assert db.take_upload_deletion_tasks() == [job.id]


class CancelingDuringUpload(FakeReplicate):
    """Has the user cancel the job whose selfies are being uploaded, mid-upload."""

    def __init__(self, user: User) -> None:
        super().__init__()
        self.user = user
        self.training: TrainingService | None = None

    async def upload_file(self, upload: FileUpload) -> UploadedFile:
        uploaded = await super().upload_file(upload)
        assert self.training is not None
        job_id = upload.filename.removeprefix("selfies-").removesuffix(".zip")
        await self.training.cancel(self.user, job_id)
        return uploaded


async def test_a_training_canceled_while_uploading_records_the_upload_and_queues_its_deletion(
    uow: FakeUnitOfWorkFactory, hub: EventHub, db: FakeDatabase, alice: User
) -> None:
    replicate = CancelingDuringUpload(alice)
    config = TrainingConfig(owners=("studio",), webhooks=WEBHOOKS)
    replicate.training = TrainingService(uow, replicate, hub, config, FakeSelfieProcessor())

    with pytest.raises(BadUserInput):
        await replicate.training.start(alice, fake_selfies())

    [job] = db.tables.training_jobs.values()
    assert job.status is TrainingStatus.CANCELED
    assert job.upload_file_id in replicate.files
    assert replicate.calls_to("create_training") == []
    assert db.take_upload_deletion_tasks() == [job.id]


async def test_deleting_an_ended_trainings_upload_deletes_it_once_and_forgets_it(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job, upstream_id = await start_upstream(training, replicate, alice)
    await training.apply(job.id, ending_report(replicate, upstream_id, TrainingStatus.FAILED))
    file_id = job.upload_file_id

    await training.delete_upload(job.id)
    await training.delete_upload(job.id)

    assert replicate.calls_to("delete_file") == [{"file_id": file_id}]
    assert file_id not in replicate.files
    assert db.tables.training_jobs[job.id].upload_file_id is None


async def test_a_running_trainings_upload_is_not_deleted(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job, _ = await start_upstream(training, replicate, alice)
    before = db.snapshot()

    await training.delete_upload(job.id)

    assert replicate.calls_to("delete_file") == []
    assert job.upload_file_id in replicate.files
    assert db.tables == before


async def test_an_upload_deletion_the_provider_misses_raises_and_keeps_the_upload_recorded(
    training: TrainingService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    job = ended_job(db, alice, ended_ago=timedelta(minutes=1))
    replicate.fail_next("delete_file", UpstreamUnavailable("provider down"))

    with pytest.raises(UpstreamUnavailable):
        await training.delete_upload(job.id)

    assert db.tables.training_jobs[job.id].upload_file_id == job.upload_file_id


async def test_missed_upload_deletions_are_queued_for_ended_trainings_still_holding_one(
    training: TrainingService, db: FakeDatabase, alice: User
) -> None:
    bob = db.add_user("bob1")
    long_ended = ended_job(db, alice, ended_ago=UPLOAD_DELETION_GRACE * 2)
    also_long_ended = ended_job(db, bob, ended_ago=UPLOAD_DELETION_GRACE * 3)
    ended_job(db, alice, ended_ago=UPLOAD_DELETION_GRACE / 2)  # its own task may still run
    ended_job(db, alice, ended_ago=UPLOAD_DELETION_GRACE * 2, with_upload=False)
    db.add_training(bob.id, status=TrainingStatus.PROCESSING, upload_file_id="f-running")

    assert await training.queue_missed_upload_deletions(batch=10) == 2

    assert set(db.take_upload_deletion_tasks()) == {long_ended.id, also_long_ended.id}


async def test_the_reconciler_queues_the_missed_upload_deletions(
    training: TrainingService, db: FakeDatabase, alice: User
) -> None:
    long_ended = ended_job(db, alice, ended_ago=UPLOAD_DELETION_GRACE * 2)

    await reconcile(training)

    assert db.take_upload_deletion_tasks() == [long_ended.id]


class DeletingAccountDuringUpload(FakeReplicate):
    """Has the user's account deleted while their selfies are being uploaded."""

    def __init__(self, user: User, uow: FakeUnitOfWorkFactory) -> None:
        super().__init__()
        self.user = user
        self.uow = uow

    async def upload_file(self, upload: FileUpload) -> UploadedFile:
        uploaded = await super().upload_file(upload)
        async with self.uow() as uow:
            await uow.accounts.erase_user(self.user.id)
            await uow.commit()
        return uploaded


async def test_a_start_whose_account_is_deleted_meanwhile_removes_what_it_put_upstream(
    uow: FakeUnitOfWorkFactory, hub: EventHub, db: FakeDatabase, alice: User
) -> None:
    replicate = DeletingAccountDuringUpload(alice, uow)
    config = TrainingConfig(owners=("studio",), webhooks=WEBHOOKS)
    training = TrainingService(uow, replicate, hub, config, FakeSelfieProcessor())

    with pytest.raises(AccountDeleted):
        await training.start(alice, fake_selfies())

    assert replicate.files == {}
    assert ("studio", "alice1-selfie-lora") in replicate.deleted_models
    assert replicate.calls_to("create_training") == []
    assert db.tables.training_jobs == {}
