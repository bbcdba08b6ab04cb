"""OrphanCollector on fakes: what no row refers to goes after the grace period; what a row
refers to, what is young and what is not shaped like ours stays."""

import uuid
from datetime import timedelta

import pytest

from domain.generation.models import GenerationStatus
from domain.privacy import orphans
from domain.privacy.orphans import CollectedOrphans, OrphanCollector
from domain.training.models import TrainingStatus
from domain.upstream import UpstreamFile
from domain.users.models import User
from tests.unit.fakes import (
    FakeDatabase,
    FakeImageStorage,
    FakeReplicate,
    FakeUnitOfWorkFactory,
    now,
)

GRACE = timedelta(hours=1)


@pytest.fixture
def collector(
    uow: FakeUnitOfWorkFactory, replicate: FakeReplicate, storage: FakeImageStorage
) -> OrphanCollector:
    return OrphanCollector(uow, replicate, storage)


@pytest.fixture
def alice(db: FakeDatabase) -> User:
    user = db.add_user("alice1")
    db.add_model(user.id, version_id="v1")
    return user


async def store(storage: FakeImageStorage, key: str, *, old: bool = True) -> str:
    await storage.save(key, b"image", "image/png")
    if old:
        storage.saved_at[key] = now() - GRACE * 2
    return key


def add_file(replicate: FakeReplicate, name: str, *, old: bool = True) -> str:
    file_id = f"file-{len(replicate.files)}"
    created_at = now() - GRACE * 2 if old else now()
    replicate.files[file_id] = UpstreamFile(file_id, name, created_at)
    return file_id


async def test_old_stored_objects_of_a_deleted_generation_are_removed(
    collector: OrphanCollector, storage: FakeImageStorage, alice: User
) -> None:
    gone = str(uuid.uuid4())
    await store(storage, f"alice1/{gone}/0.png")
    await store(storage, f"alice1/{gone}/0.thumbnail.webp")

    collected = await collector.collect(grace=GRACE, include_provider=False)

    assert collected == CollectedOrphans(stored_objects=2, provider_files=0)
    assert storage.saved == {}


async def test_stored_objects_of_an_existing_generation_are_kept_however_old(
    collector: OrphanCollector, db: FakeDatabase, storage: FakeImageStorage, alice: User
) -> None:
    existing = db.add_generation(alice.id, status=GenerationStatus.SUCCEEDED)
    key = await store(storage, f"alice1/{existing.id}/0.png")

    await collector.collect(grace=GRACE, include_provider=False)

    assert list(storage.saved) == [key]


async def test_young_orphans_are_kept_for_work_still_in_flight(
    collector: OrphanCollector, storage: FakeImageStorage, alice: User
) -> None:
    key = await store(storage, f"alice1/{uuid.uuid4()}/0.png", old=False)

    await collector.collect(grace=GRACE, include_provider=False)

    assert list(storage.saved) == [key]


@pytest.mark.parametrize(
    "key",
    [
        "alice1/not-a-generation/0.png",
        f"alice1/{uuid.uuid4()}",
        f"alice1/{uuid.uuid4()}/nested/0.png",
        f"Alice1/{uuid.uuid4()}/0.png",
        f"{uuid.uuid4()}/0.png",
        "selfies/alice1.zip",
    ],
)
async def test_keys_not_shaped_like_a_generations_images_are_never_touched(
    collector: OrphanCollector, storage: FakeImageStorage, key: str
) -> None:
    await store(storage, key)

    collected = await collector.collect(grace=GRACE, include_provider=False)

    assert collected.stored_objects == 0
    assert list(storage.saved) == [key]


async def test_orphans_in_many_batches_are_all_found(
    collector: OrphanCollector,
    db: FakeDatabase,
    storage: FakeImageStorage,
    alice: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(orphans, "BATCH", 2)
    existing = db.add_generation(alice.id, status=GenerationStatus.SUCCEEDED)
    kept = {await store(storage, f"alice1/{existing.id}/{n}.png") for n in range(3)}
    for _ in range(5):
        await store(storage, f"alice1/{uuid.uuid4()}/0.png")

    collected = await collector.collect(grace=GRACE, include_provider=False)

    assert collected.stored_objects == 5
    assert set(storage.saved) == kept


async def test_old_unreferenced_selfie_archives_are_deleted_from_the_provider(
    collector: OrphanCollector, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    orphan = add_file(replicate, "selfies-lost.zip")
    referenced = add_file(replicate, "selfies-kept.zip")
    db.add_training(alice.id, status=TrainingStatus.SUCCEEDED, upload_file_id=referenced)
    other = add_file(replicate, "somebody-elses.zip")
    young = add_file(replicate, "selfies-in-flight.zip", old=False)

    collected = await collector.collect(grace=GRACE)

    assert collected == CollectedOrphans(stored_objects=0, provider_files=1)
    assert replicate.calls_to("delete_file") == [{"file_id": orphan}]
    assert set(replicate.files) == {referenced, other, young}


async def test_an_archive_referenced_by_a_running_training_is_kept(
    collector: OrphanCollector, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    running = add_file(replicate, "selfies-running.zip")
    db.add_training(alice.id, status=TrainingStatus.PROCESSING, upload_file_id=running)

    await collector.collect(grace=GRACE)

    assert replicate.calls_to("delete_file") == []


async def test_the_provider_is_left_alone_when_not_included(
    collector: OrphanCollector, replicate: FakeReplicate
) -> None:
    add_file(replicate, "selfies-lost.zip")

    await collector.collect(grace=GRACE, include_provider=False)

    assert replicate.calls == []
