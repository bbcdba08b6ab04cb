"""GenerationService.delete on fakes: finished ones only, the user's own only, the rows at
once and the stored files by a task, and the allowance it used stays used."""

import uuid
from datetime import timedelta

import pytest

from domain.allowances import Allowances
from domain.errors import BadUserInput, NotFound, QuotaExceeded
from domain.generation.models import GeneratedImage, Generation, GenerationStatus
from domain.generation.service import GenerationService
from domain.users.models import User
from tests.unit.fakes import (
    FULL_VERSION_INPUTS,
    DeletedGeneration,
    FakeDatabase,
    FakeImageStorage,
    FakeReplicate,
    now,
)
from tests.unit.services.conftest import GenerationFactory

NAMES = {name: name for name in FULL_VERSION_INPUTS} | {"guidance": "guidance_scale"}
FINISHED = [GenerationStatus.SUCCEEDED, GenerationStatus.FAILED, GenerationStatus.CANCELED]
RUNNING = [GenerationStatus.STARTING, GenerationStatus.PROCESSING]


@pytest.fixture
def alice(db: FakeDatabase) -> User:
    user = db.add_user("alice1")
    db.add_model(user.id, version_id="v1", input_names=NAMES)
    return user


@pytest.fixture
def bob(db: FakeDatabase) -> User:
    return db.add_user("bob1")


def add_images(db: FakeDatabase, generation: Generation, count: int = 2) -> list[GeneratedImage]:
    """Stored images of the generation, as store_outputs records them."""
    images = [
        GeneratedImage(
            id=str(uuid.uuid4()),
            generation_id=generation.id,
            user_id=generation.user_id,
            position=position,
            storage_key=f"{generation.user_id}/{generation.id}/{position}.webp",
            content_type="image/webp",
            width=768,
            height=1024,
            selected=False,
            created_at=now(),
        )
        for position in range(count)
    ]
    db.tables.images.update({image.id: image for image in images})
    return images


@pytest.mark.parametrize("status", FINISHED)
async def test_a_finished_generation_is_deleted_with_its_images_and_its_files_queued(
    generation: GenerationService, db: FakeDatabase, alice: User, status: GenerationStatus
) -> None:
    deleted = db.add_generation(alice.id, status=status)
    add_images(db, deleted)
    kept = db.add_generation(alice.id, status=GenerationStatus.SUCCEEDED)
    kept_images = add_images(db, kept)

    await generation.delete(alice, deleted.id)

    assert list(db.tables.generations) == [kept.id]
    assert sorted(db.tables.images) == sorted(image.id for image in kept_images)
    assert db.take_stored_image_deletion_tasks() == [f"alice1/{deleted.id}/"]


async def test_the_queued_task_deletes_the_generations_stored_files_only(
    generation: GenerationService, db: FakeDatabase, storage: FakeImageStorage, alice: User
) -> None:
    deleted = db.add_generation(alice.id, status=GenerationStatus.SUCCEEDED)
    kept = db.add_generation(alice.id, status=GenerationStatus.SUCCEEDED)
    for stored in (deleted, kept):
        for name in ("0.png", "0.thumbnail.webp"):
            await storage.save(f"alice1/{stored.id}/{name}", b"image", "image/png")
    await generation.delete(alice, deleted.id)

    for prefix in db.take_stored_image_deletion_tasks():
        await generation.delete_stored_images(prefix)

    assert sorted(storage.saved) == [
        f"alice1/{kept.id}/0.png",
        f"alice1/{kept.id}/0.thumbnail.webp",
    ]


@pytest.mark.parametrize("status", RUNNING)
async def test_a_running_generation_is_refused_with_nothing_changed_or_queued(
    generation: GenerationService, db: FakeDatabase, alice: User, status: GenerationStatus
) -> None:
    running = db.add_generation(alice.id, status=status, replicate_prediction_id="p1")
    add_images(db, running)
    before = db.snapshot()

    with pytest.raises(BadUserInput):
        await generation.delete(alice, running.id)

    assert db.tables == before
    assert db.tables.stored_image_deletion_tasks == []


async def test_another_users_generation_is_not_found_and_left_alone(
    generation: GenerationService, db: FakeDatabase, alice: User, bob: User
) -> None:
    alices = db.add_generation(alice.id, status=GenerationStatus.SUCCEEDED)
    add_images(db, alices)
    before = db.snapshot()

    with pytest.raises(NotFound):
        await generation.delete(bob, alices.id)

    assert db.tables == before


async def test_an_unknown_generation_is_not_found(
    generation: GenerationService, db: FakeDatabase, alice: User
) -> None:
    with pytest.raises(NotFound):
        await generation.delete(alice, str(uuid.uuid4()))

    assert db.tables.stored_image_deletion_tasks == []


async def test_a_deleted_generation_that_counted_still_counts_today(
    make_generation: GenerationFactory, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    one_a_day = make_generation(allowances=Allowances(daily_generations=1))
    counted = db.add_generation(alice.id, status=GenerationStatus.SUCCEEDED)

    await one_a_day.delete(alice, counted.id)

    with pytest.raises(QuotaExceeded):
        await one_a_day.generate_maya(alice, "one more")
    assert replicate.calls_to("create_prediction") == []


async def test_a_deleted_generation_whose_allowance_was_returned_does_not_count(
    make_generation: GenerationFactory, db: FakeDatabase, alice: User
) -> None:
    one_a_day = make_generation(allowances=Allowances(daily_generations=1))
    returned = db.add_generation(alice.id, status=GenerationStatus.FAILED, allowance_returned=True)

    await one_a_day.delete(alice, returned.id)

    started = await one_a_day.generate_maya(alice, "one more")
    assert started.status is GenerationStatus.STARTING
    assert db.tables.deleted_generations == {}


async def test_a_deleted_generation_made_before_yesterday_is_not_remembered(
    generation: GenerationService, db: FakeDatabase, alice: User
) -> None:
    old = db.add_generation(
        alice.id, status=GenerationStatus.SUCCEEDED, created_at=now() - timedelta(days=3)
    )

    await generation.delete(alice, old.id)

    assert db.tables.generations == {}
    assert db.tables.deleted_generations == {}


async def test_deleted_generations_are_forgotten_once_no_allowance_counts_them(
    generation: GenerationService, db: FakeDatabase, alice: User
) -> None:
    db.tables.deleted_generations = {
        "old": DeletedGeneration(alice.id, now() - timedelta(days=3)),
        "recent": DeletedGeneration(alice.id, now() - timedelta(hours=1)),
    }

    await generation.forget_deleted_generations()

    assert list(db.tables.deleted_generations) == ["recent"]
