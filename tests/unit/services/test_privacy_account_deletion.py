"""AccountDeletionService on fakes: the confirmation, the rows gone at once with what is
left recorded, then the upstream and stored leftovers removed in order, each step once."""

import asyncio
from datetime import UTC, datetime

import pytest

from domain.errors import AccountDeleted, BadUserInput, UpstreamRejected, UpstreamUnavailable
from domain.generation.models import GenerationStatus
from domain.images import StorageUnavailable
from domain.privacy.account_deletion import AccountDeletionService, DeletionStepFailed
from domain.privacy.models import AccountDeletion, DeletionStep, UsageKind
from domain.training.models import TrainingStatus
from domain.upstream import UpstreamFile, UpstreamPrediction, UpstreamStatus, UpstreamTraining
from domain.users.models import User
from tests.unit.fakes import (
    Call,
    FakeDatabase,
    FakeImageStorage,
    FakeReplicate,
    FakeUnitOfWorkFactory,
    now,
)

ALICES_MODEL = ("studio", "alice1-selfie-lora")
BOBS_MODEL = ("studio", "bob1-selfie-lora")
STORAGE_DELETE = "storage.delete_prefix"


class RecordingStorage(FakeImageStorage):
    """Notes each `delete_prefix` in the provider's call log, so that one timeline shows
    the order of upstream and stored deletions; `failures` are raised first, in turn."""

    def __init__(self, replicate: FakeReplicate) -> None:
        super().__init__()
        self._replicate = replicate
        self.failures: list[StorageUnavailable] = []

    async def delete_prefix(self, prefix: str) -> int:
        self._replicate.calls.append(Call(STORAGE_DELETE, {"prefix": prefix}))
        if self.failures:
            raise self.failures.pop(0)
        return await super().delete_prefix(prefix)


@pytest.fixture
def storage(replicate: FakeReplicate) -> RecordingStorage:
    return RecordingStorage(replicate)


@pytest.fixture
def deletions(
    uow: FakeUnitOfWorkFactory, replicate: FakeReplicate, storage: RecordingStorage
) -> AccountDeletionService:
    return AccountDeletionService(uow, replicate, storage)


def add_upstream_model(
    replicate: FakeReplicate, model: tuple[str, str], versions: list[str]
) -> None:
    owner, name = model
    replicate.models[model] = {"owner": owner, "name": name, "visibility": "private"}
    replicate.model_versions[model] = list(versions)


def add_upstream_file(replicate: FakeReplicate, file_id: str) -> None:
    replicate.files[file_id] = UpstreamFile(file_id, f"selfies-{file_id}.zip", now())


def add_running_work(
    db: FakeDatabase, replicate: FakeReplicate, user: User, suffix: str, version: str
) -> None:
    """A running training ("t-<suffix>") holding an upload ("f-<suffix>") and a running
    prediction ("p-<suffix>"), here and upstream."""
    db.add_training(
        user.id,
        status=TrainingStatus.PROCESSING,
        replicate_training_id=f"t-{suffix}",
        upload_file_id=f"f-{suffix}",
    )
    db.add_generation(
        user.id, status=GenerationStatus.PROCESSING, replicate_prediction_id=f"p-{suffix}"
    )
    replicate.trainings[f"t-{suffix}"] = UpstreamTraining(f"t-{suffix}", UpstreamStatus.PROCESSING)
    replicate.predictions[f"p-{suffix}"] = UpstreamPrediction(
        f"p-{suffix}", UpstreamStatus.PROCESSING, version=version
    )
    add_upstream_file(replicate, f"f-{suffix}")


@pytest.fixture
async def alice(db: FakeDatabase, replicate: FakeReplicate, storage: RecordingStorage) -> User:
    """A model with two versions upstream, a finished training whose upload was not deleted
    yet, running work, a finished generation with a stored image, one not started yet."""
    alice = db.add_user("alice1")
    db.add_model(alice.id, version_id="v2")
    add_upstream_model(replicate, ALICES_MODEL, ["v1", "v2"])
    db.add_training(
        alice.id,
        status=TrainingStatus.SUCCEEDED,
        replicate_training_id="t-old",
        upload_file_id="f-old",
    )
    add_upstream_file(replicate, "f-old")
    add_running_work(db, replicate, alice, "alice", "v2")
    done = db.add_generation(alice.id, status=GenerationStatus.SUCCEEDED)
    db.add_generation(alice.id, status=GenerationStatus.STARTING)
    await storage.save(f"alice1/{done.id}/0.png", b"alice", "image/png")
    db.tables.owners["studio"] = db.tables.owners.get("studio", 0) + 1
    return alice


@pytest.fixture
async def bob(db: FakeDatabase, replicate: FakeReplicate, storage: RecordingStorage) -> User:
    """Another user, with the same kinds of things, none of which may be touched."""
    bob = db.add_user("bob1")
    db.add_model(bob.id, version_id="b1")
    add_upstream_model(replicate, BOBS_MODEL, ["b1"])
    add_running_work(db, replicate, bob, "bob", "b1")
    done = db.add_generation(bob.id, status=GenerationStatus.SUCCEEDED)
    await storage.save(f"bob1/{done.id}/0.png", b"bob", "image/png")
    db.tables.owners["studio"] = db.tables.owners.get("studio", 0) + 1
    return bob


async def deleted(
    deletions: AccountDeletionService, db: FakeDatabase, replicate: FakeReplicate, user: User
) -> AccountDeletion:
    """The user's account deleted (the mutation); its deletion record, the task taken."""
    await deletions.delete_account(user, user.id)
    [task] = db.take_account_deletion_tasks()
    [row] = db.tables.deletions.values()
    assert row.deletion.id == task
    replicate.calls.clear()
    return row.deletion


def upstream_and_storage_deletions(replicate: FakeReplicate) -> list[tuple[str, list[str]]]:
    """The writes upstream and the storage deletions, in order, with their subjects."""
    names = {"cancel_training", "cancel_prediction", "delete_model_version", "delete_model"}
    names |= {"delete_file", STORAGE_DELETE}
    return [
        (call.name, [str(value) for value in call.arguments.values()])
        for call in replicate.calls
        if call.name in names
    ]


def steps_done(db: FakeDatabase, deletion: AccountDeletion) -> frozenset[DeletionStep]:
    return db.tables.deletions[deletion.id].deletion.steps_done


# -- the mutation ----------------------------------------------------------------------------


@pytest.mark.parametrize("confirm", [None, "", "bob1", "ALICE1"])
async def test_a_wrong_confirmation_deletes_nothing(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
    bob: User,
    confirm: str | None,
) -> None:
    before = db.snapshot()

    with pytest.raises(BadUserInput):
        await deletions.delete_account(alice, confirm)

    assert db.tables == before
    assert db.tables.account_deletion_tasks == []
    assert replicate.calls == []


async def test_the_users_rows_go_at_once_and_their_leftovers_are_recorded_and_queued(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
    bob: User,
) -> None:
    bobs_before = db.snapshot()

    await deletions.delete_account(alice, alice.id)

    tables = db.tables
    assert list(tables.users) == [bob.id]
    assert {m.user_id for m in tables.user_models.values()} == {bob.id}
    assert {j.user_id for j in tables.training_jobs.values()} == {bob.id}
    assert {g.user_id for g in tables.generations.values()} == {bob.id}
    assert tables.training_jobs == {
        k: j for k, j in bobs_before.training_jobs.items() if j.user_id == bob.id
    }
    [row] = tables.deletions.values()
    recorded = row.deletion
    assert recorded.former_user_id == alice.id
    assert recorded.replicate_model_id == "studio/alice1-selfie-lora"
    assert recorded.training_ids == ("t-alice",)
    assert recorded.prediction_ids == ("p-alice",)
    assert sorted(recorded.file_ids) == ["f-alice", "f-old"]
    assert recorded.steps_done == frozenset()
    assert tables.account_deletion_tasks == [recorded.id]
    assert replicate.calls == []


async def test_the_books_keep_an_anonymous_count_of_the_erased_trainings_and_generations(
    deletions: AccountDeletionService, db: FakeDatabase, bob: User
) -> None:
    monday, tuesday = (
        datetime(2030, 1, 7, 23, 30, tzinfo=UTC),
        datetime(2030, 1, 8, 0, 30, tzinfo=UTC),
    )
    dave = db.add_user("dave1")
    db.add_model(dave.id, version_id="d1")
    db.add_training(dave.id, status=TrainingStatus.SUCCEEDED, created_at=monday)
    for moment in (monday, tuesday, tuesday):
        db.add_generation(dave.id, status=GenerationStatus.SUCCEEDED, created_at=moment)

    await deletions.delete_account(dave, dave.id)

    assert db.tables.anonymous_usage == {
        (monday.date(), UsageKind.TRAINING): 1,
        (monday.date(), UsageKind.GENERATION): 1,
        (tuesday.date(), UsageKind.GENERATION): 2,
    }


async def test_a_deleted_account_cannot_be_deleted_again(
    deletions: AccountDeletionService, db: FakeDatabase, alice: User
) -> None:
    await deletions.delete_account(alice, alice.id)
    before = db.snapshot()

    with pytest.raises(AccountDeleted):
        await deletions.delete_account(alice, alice.id)

    assert db.tables == before


# -- the task ----------------------------------------------------------------------------


async def test_the_leftovers_are_removed_in_order_then_the_deletion_is_forgotten(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    storage: RecordingStorage,
    alice: User,
    bob: User,
) -> None:
    deletion = await deleted(deletions, db, replicate, alice)

    await deletions.run(deletion.id)

    assert upstream_and_storage_deletions(replicate) == [
        ("cancel_training", ["t-alice"]),
        ("cancel_prediction", ["p-alice"]),
        ("delete_model_version", ["studio", "alice1-selfie-lora", "v2"]),
        ("delete_model_version", ["studio", "alice1-selfie-lora", "v1"]),
        ("delete_model", ["studio", "alice1-selfie-lora"]),
        ("delete_file", [deletion.file_ids[0]]),
        ("delete_file", [deletion.file_ids[1]]),
        (STORAGE_DELETE, ["alice1/"]),
    ]
    assert db.tables.deletions == {}
    assert db.tables.owners == {"studio": 1}


async def test_other_users_upstream_and_stored_things_are_left_alone(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    storage: RecordingStorage,
    alice: User,
    bob: User,
) -> None:
    deletion = await deleted(deletions, db, replicate, alice)

    await deletions.run(deletion.id)

    assert list(replicate.models) == [BOBS_MODEL]
    assert replicate.model_versions[BOBS_MODEL] == ["b1"]
    assert replicate.trainings["t-bob"].status is UpstreamStatus.PROCESSING
    assert replicate.predictions["p-bob"].status is UpstreamStatus.PROCESSING
    assert list(replicate.files) == ["f-bob"]
    assert [key.split("/")[0] for key in storage.saved] == ["bob1"]


async def test_a_failure_mid_way_is_recorded_and_a_rerun_repeats_no_step_done(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    storage: RecordingStorage,
    alice: User,
) -> None:
    deletion = await deleted(deletions, db, replicate, alice)
    replicate.fail_next("delete_file", UpstreamUnavailable("provider down"))

    with pytest.raises(DeletionStepFailed):
        await deletions.run(deletion.id)

    assert steps_done(db, deletion) == {DeletionStep.CANCEL_WORK, DeletionStep.DELETE_MODEL}
    assert "provider down" in (db.tables.deletions[deletion.id].last_error or "")
    assert db.tables.owners == {"studio": 0}
    assert "alice1" in {key.split("/")[0] for key in storage.saved}
    replicate.calls.clear()

    await deletions.run(deletion.id)

    assert [name for name, _ in upstream_and_storage_deletions(replicate)] == [
        "delete_file",
        "delete_file",
        STORAGE_DELETE,
    ]
    assert db.tables.owners == {"studio": 0}
    assert db.tables.deletions == {}


async def test_a_model_deletion_failing_after_its_versions_releases_the_slot_once_it_is_done(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
    bob: User,
) -> None:
    deletion = await deleted(deletions, db, replicate, alice)
    replicate.fail_next("delete_model", UpstreamUnavailable("timed out"))

    with pytest.raises(DeletionStepFailed):
        await deletions.run(deletion.id)
    assert db.tables.owners == {"studio": 2}
    assert replicate.model_versions[ALICES_MODEL] == []

    await deletions.run(deletion.id)
    await deletions.run(deletion.id)

    assert ALICES_MODEL not in replicate.models
    assert db.tables.owners == {"studio": 1}
    assert len(replicate.calls_to("cancel_training")) == 1


async def test_two_workers_running_one_deletion_release_the_model_slot_once(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
    bob: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deletion = await deleted(deletions, db, replicate, alice)
    both_started = asyncio.Event()
    started: list[str] = []
    cancel_training = replicate.cancel_training

    async def cancel_once_both_started(training_id: str) -> UpstreamTraining:
        started.append(training_id)
        if len(started) == 2:
            both_started.set()
        await both_started.wait()
        return await cancel_training(training_id)

    monkeypatch.setattr(replicate, "cancel_training", cancel_once_both_started)

    await asyncio.gather(deletions.run(deletion.id), deletions.run(deletion.id))

    assert len(started) == 2  # both ran every step on the same record
    assert db.tables.owners == {"studio": 1}
    assert db.tables.deletions == {}


async def test_a_refused_version_fails_the_step_keeps_the_model_and_finishes_once_lifted(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    deletion = await deleted(deletions, db, replicate, alice)
    replicate.fail_next("delete_model_version", UpstreamRejected(409, "version in use"))

    with pytest.raises(DeletionStepFailed, match="version in use"):
        await deletions.run(deletion.id)

    assert replicate.calls_to("delete_model") == []
    assert ALICES_MODEL in replicate.models
    assert steps_done(db, deletion) == {DeletionStep.CANCEL_WORK}
    last_error = db.tables.deletions[deletion.id].last_error or ""
    assert "DELETE_MODEL" in last_error
    assert "version in use" in last_error
    assert db.tables.owners == {"studio": 1}

    await deletions.run(deletion.id)

    assert ALICES_MODEL not in replicate.models
    assert db.tables.deletions == {}
    assert db.tables.owners == {"studio": 0}


async def test_a_storage_outage_fails_the_last_step_which_a_rerun_finishes(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    storage: RecordingStorage,
    alice: User,
) -> None:
    deletion = await deleted(deletions, db, replicate, alice)
    storage.failures.append(StorageUnavailable("store down"))

    with pytest.raises(DeletionStepFailed):
        await deletions.run(deletion.id)
    assert DeletionStep.DELETE_STORED_IMAGES not in steps_done(db, deletion)

    await deletions.run(deletion.id)

    assert storage.saved == {}
    assert db.tables.deletions == {}


async def test_work_the_provider_will_not_cancel_does_not_hold_the_deletion_up(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    replicate.trainings.clear()  # the provider answers 404
    deletion = await deleted(deletions, db, replicate, alice)

    await deletions.run(deletion.id)

    assert db.tables.deletions == {}


async def test_an_account_with_no_model_skips_the_model_and_still_clears_storage(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    storage: RecordingStorage,
) -> None:
    carol = db.add_user("carol1")
    await storage.save("carol1/x/0.png", b"carol", "image/png")
    deletion = await deleted(deletions, db, replicate, carol)

    await deletions.run(deletion.id)

    assert deletion.replicate_model_id is None
    assert [name for name, _ in upstream_and_storage_deletions(replicate)] == [STORAGE_DELETE]
    assert storage.saved == {}


async def test_a_finished_deletion_run_again_does_nothing(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    deletion = await deleted(deletions, db, replicate, alice)
    await deletions.run(deletion.id)
    replicate.calls.clear()

    await deletions.run(deletion.id)

    assert replicate.calls == []
    assert db.tables.owners == {"studio": 0}


async def test_an_idle_unfinished_deletion_is_queued_again(
    deletions: AccountDeletionService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    deletion = await deleted(deletions, db, replicate, alice)

    assert await deletions.requeue_unfinished(idle_seconds=3600.0) == 0
    assert await deletions.requeue_unfinished(idle_seconds=0.0) == 1

    assert db.take_account_deletion_tasks() == [deletion.id]
