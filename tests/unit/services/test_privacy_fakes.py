"""The fakes' privacy ports keep the SQL's promises (persistence/repositories/*.py)."""

from datetime import timedelta

from domain.generation.models import GenerationStatus
from domain.privacy.models import DeletionStep
from domain.training.models import TrainingStatus
from tests.unit.fakes import FakeDatabase, FakeUnitOfWorkFactory, now


async def test_lock_answers_whether_the_user_still_exists(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    db.add_user("alice1")

    async with uow() as work:
        assert await work.users.lock("alice1")
        await work.accounts.erase_user("alice1")
        assert not await work.users.lock("alice1")


async def test_a_step_is_recorded_done_once_and_clears_the_last_error(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    async with uow() as work:
        deletion = await work.accounts.insert_deletion(
            former_user_id="alice1",
            replicate_model_id=None,
            training_ids=[],
            prediction_ids=[],
            file_ids=[],
        )
        await work.accounts.step_failed(deletion.id, "CANCEL_WORK: down")
        assert await work.accounts.step_done(deletion.id, DeletionStep.CANCEL_WORK)
        assert not await work.accounts.step_done(deletion.id, DeletionStep.CANCEL_WORK)
        await work.commit()

    row = db.tables.deletions[deletion.id]
    assert row.deletion.steps_done == {DeletionStep.CANCEL_WORK}
    assert row.last_error is None


async def test_a_released_slot_never_goes_below_zero(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    db.tables.owners = {"studio": 1}

    async with uow() as work:
        await work.owners.release_model_slot("studio")
        await work.owners.release_model_slot("studio")
        await work.owners.release_model_slot("elsewhere")
        await work.commit()

    assert db.tables.owners == {"studio": 0}


async def test_erasing_a_user_takes_their_deleted_generations_too(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    db.add_user("alice1")
    generation = db.add_generation("alice1", status=GenerationStatus.SUCCEEDED)

    async with uow() as work:
        await work.generations.delete(generation, still_counts=True)
        assert await work.generations.count_counted_since("alice1", now() - timedelta(hours=1)) == 1
        await work.accounts.erase_user("alice1")
        await work.commit()

    assert db.tables.deleted_generations == {}


async def test_uploads_to_delete_are_the_longest_ended_first_at_most_the_limit(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    db.add_user("alice1")
    db.add_model("alice1")
    moments = [now() - timedelta(hours=hours) for hours in (1, 3, 2)]
    jobs = [
        db.add_training(
            "alice1", status=TrainingStatus.FAILED, created_at=moment, upload_file_id=f"f{n}"
        )
        for n, moment in enumerate(moments)
    ]

    async with uow(read_only=True) as work:
        due = await work.training_jobs.uploads_to_delete(ended_before=now(), limit=2)

    assert [job.id for job in due] == [jobs[1].id, jobs[2].id]
