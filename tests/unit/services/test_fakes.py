"""The fakes keep the promises the services rely on (see tests/unit/fakes.py)."""

import pytest

from domain.errors import TrainingInProgress, UpstreamUnavailable
from tests.unit.fakes import FakeDatabase, FakeIntegrityError, FakeReplicate, FakeUnitOfWorkFactory


async def test_a_unit_of_work_left_without_commit_changes_nothing(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    async with uow() as work:
        await work.users.insert_if_absent("alice1", "oidc|alice")

    assert db.tables.users == {}
    assert not work.committed
    assert work.rolled_back


async def test_an_exception_rolls_the_unit_of_work_back(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    async def write_then_fail() -> None:
        async with uow() as work:
            await work.users.insert_if_absent("alice1", "oidc|alice")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await write_then_fail()

    assert db.tables.users == {}


async def test_a_commit_publishes_the_writes_and_their_notices(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    db.add_user("alice1")
    db.add_model("alice1")
    async with uow() as work:
        model = await work.user_models.for_user("alice1")
        assert model is not None
        job = await work.training_jobs.insert_queued("alice1", model.id, 10)
        await work.events.training_changed(job)
        assert db.notices == []
        await work.commit()

    assert list(db.tables.training_jobs) == [job.id]
    assert [topic for topic, _ in db.notices] == [f"training:{job.id}"]


async def test_one_active_training_per_user(uow: FakeUnitOfWorkFactory, db: FakeDatabase) -> None:
    db.add_user("alice1")
    model = db.add_model("alice1")
    db.add_training("alice1")

    async with uow() as work:
        with pytest.raises(TrainingInProgress):
            await work.training_jobs.insert_queued("alice1", model.id, 10)


async def test_a_read_only_unit_of_work_refuses_writes(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    async with uow(read_only=True) as work:
        with pytest.raises(FakeIntegrityError):
            await work.users.insert_if_absent("alice1", "oidc|alice")


async def test_a_lost_answer_still_creates_upstream() -> None:
    replicate = FakeReplicate()
    replicate.lose_next_answer("create_prediction")

    with pytest.raises(UpstreamUnavailable) as lost:
        await replicate.create_prediction(
            version="o/m:v1", input={"prompt": "p", "seed": 1}, webhook=None, webhook_events=[]
        )

    assert lost.value.may_have_arrived
    assert len(replicate.predictions) == 1
