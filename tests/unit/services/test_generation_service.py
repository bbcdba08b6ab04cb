"""GenerationService's rules on fakes: own version, locked body, allowances, outputs."""

import io
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from PIL import Image

from domain.allowances import Allowances
from domain.errors import (
    ModelNotReady,
    NextStep,
    NotFound,
    QuotaExceeded,
    RateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from domain.events import EventHub
from domain.generation.models import GeneratedImage, Generation, GenerationStatus
from domain.generation.renditions import RENDITION_TYPE, rendition_key
from domain.generation.service import EXPIRED_MESSAGE, GenerationConfig, GenerationService
from domain.generation.styles import StyleCatalogue
from domain.images import ImageSize, OutputGone, OutputUnavailable, StorageUnavailable
from domain.training.models import TrainingStatus
from domain.upstream import UpstreamPrediction, UpstreamStatus
from domain.users.models import User
from tests.locked_body import assert_locked_body
from tests.unit.fakes import (
    FULL_VERSION_INPUTS,
    FakeDatabase,
    FakeEventPublisher,
    FakeImageStorage,
    FakeOutputFetcher,
    FakeReplicate,
    FakeUnitOfWorkFactory,
)
from tests.unit.services.conftest import GenerationFactory, reconcile, run_tasks

NAMES = {name: name for name in FULL_VERSION_INPUTS} | {"guidance": "guidance_scale"}
OUTPUTS = [f"https://replicate.delivery/out-{n}.png" for n in range(3)]


@pytest.fixture
def alice(db: FakeDatabase) -> User:
    user = db.add_user("alice1")
    db.add_model(user.id, version_id="v1", input_names=NAMES)
    return user


async def started_then_succeeded(
    generation: GenerationService, replicate: FakeReplicate, alice: User
) -> tuple[Generation, UpstreamPrediction]:
    """A generation started, and Replicate's report that its prediction succeeded."""
    started = await generation.generate_maya(alice, "hi")
    assert started.replicate_prediction_id is not None
    done = replicate.update_prediction(
        started.replicate_prediction_id, status=UpstreamStatus.SUCCEEDED, output=OUTPUTS
    )
    return started, done


async def test_a_user_without_a_trained_version_is_refused_with_nothing_sent(
    generation: GenerationService, db: FakeDatabase, replicate: FakeReplicate
) -> None:
    bob = db.add_user("bob1")
    db.add_user("carol1")
    db.add_model("carol1", version_id="v9", input_names=NAMES)
    before = db.snapshot()

    with pytest.raises(ModelNotReady):
        await generation.generate_maya(bob, "a portrait")

    assert replicate.calls == []
    assert db.tables == before


async def test_a_generation_sends_the_locked_body_on_the_users_own_version(
    generation: GenerationService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    started = await generation.generate_maya(alice, "  a portrait\n at dusk ")

    [body] = replicate.prediction_bodies.values()
    assert_locked_body(body, version="studio/alice1-selfie-lora:v1")
    assert body["input"]["prompt"] == "useralice1 a portrait at dusk"
    assert body["input"]["seed"] == started.parameters.seed
    [sent] = replicate.calls_to("create_prediction")
    assert f"generation={started.id}" in sent["webhook"]
    assert started.status is GenerationStatus.STARTING
    assert started.replicate_prediction_id in replicate.predictions


async def test_the_active_allowance_refuses_with_nothing_sent(
    make_generation: GenerationFactory,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    db.add_generation(alice.id, status=GenerationStatus.PROCESSING, replicate_prediction_id="p0")
    before = db.snapshot()

    with pytest.raises(RateLimited):
        await make_generation(allowances=Allowances(max_active_generations=1)).generate_maya(
            alice, "hi"
        )

    assert replicate.calls == []
    assert db.tables == before


async def test_a_billed_failure_counts_against_the_daily_allowance(
    make_generation: GenerationFactory,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    one_a_day = make_generation(allowances=Allowances(daily_generations=1))
    started = await one_a_day.generate_maya(alice, "hi")
    assert started.replicate_prediction_id is not None
    ran = replicate.update_prediction(
        started.replicate_prediction_id,
        status=UpstreamStatus.FAILED,
        started_at=datetime.now(UTC),
        completed_at=datetime.now(UTC),
    )

    failed = await one_a_day.apply(started.id, ran)

    assert failed is not None
    assert (failed.status, failed.allowance_returned) == (GenerationStatus.FAILED, False)
    with pytest.raises(QuotaExceeded):
        await one_a_day.generate_maya(alice, "again")
    assert len(replicate.calls_to("create_prediction")) == 1


async def test_a_refused_start_does_not_count(
    make_generation: GenerationFactory,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    one_a_day = make_generation(allowances=Allowances(daily_generations=1))
    replicate.fail_next("create_prediction", UpstreamRejected(422, "bad"))

    with pytest.raises(UpstreamUnavailable):
        await one_a_day.generate_maya(alice, "hi")
    [refused] = db.tables.generations.values()
    assert (refused.status, refused.allowance_returned) == (GenerationStatus.FAILED, True)

    assert (await one_a_day.generate_maya(alice, "again")).status is GenerationStatus.STARTING


async def test_outputs_are_stored_before_the_generation_succeeds(
    generation: GenerationService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    storage: FakeImageStorage,
    alice: User,
) -> None:
    started, done = await started_then_succeeded(generation, replicate, alice)

    applied = await generation.apply(started.id, done)
    assert applied is not None
    assert (applied.status, applied.output_urls) == (GenerationStatus.PROCESSING, OUTPUTS)
    assert db.tables.images == {}

    assert await run_tasks(db, generation) == [started.id]

    assert db.tables.generations[started.id].status is GenerationStatus.SUCCEEDED
    images = sorted(db.tables.images.values(), key=lambda image: image.position)
    assert [image.position for image in images] == [0, 1, 2]
    assert all(image.storage_key in storage.saved for image in images)


async def test_the_download_is_queued_in_the_transaction_that_records_the_outputs(
    generation: GenerationService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    monkeypatch: pytest.MonkeyPatch,
    alice: User,
) -> None:
    started, done = await started_then_succeeded(generation, replicate, alice)
    before = db.snapshot()

    async def announce_fails(*_: object) -> None:
        raise RuntimeError("the announcement fails after the download was queued")

    monkeypatch.setattr(FakeEventPublisher, "generation_changed", announce_fails)
    with pytest.raises(RuntimeError):
        await generation.apply(started.id, done)

    assert db.tables == before
    assert db.tables.tasks == []
    monkeypatch.undo()
    await generation.apply(started.id, done)
    await generation.apply(started.id, done)
    assert db.tables.tasks == [started.id]


async def test_a_download_is_queued_only_while_the_generation_is_not_done(
    generation: GenerationService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    started = await generation.generate_maya(alice, "hi")
    assert started.replicate_prediction_id is not None
    running = replicate.update_prediction(
        started.replicate_prediction_id, status=UpstreamStatus.PROCESSING
    )
    await generation.apply(started.id, running)
    assert db.tables.tasks == []

    failed = replicate.update_prediction(
        started.replicate_prediction_id, status=UpstreamStatus.FAILED, output=OUTPUTS
    )
    await generation.apply(started.id, failed)
    assert db.tables.generations[started.id].status is GenerationStatus.FAILED
    assert db.tables.tasks == []


async def test_expired_outputs_fail_the_generation_and_give_the_allowance_back(
    generation: GenerationService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    fetcher: FakeOutputFetcher,
    alice: User,
) -> None:
    fetcher.errors[OUTPUTS[1]] = OutputGone("410")
    started, done = await started_then_succeeded(generation, replicate, alice)

    await generation.apply(started.id, done)
    await run_tasks(db, generation)

    failed = db.tables.generations[started.id]
    assert (failed.status, failed.error) == (GenerationStatus.FAILED, EXPIRED_MESSAGE)
    assert failed.allowance_returned
    assert db.tables.images == {}


async def test_a_lost_create_answer_is_adopted_by_the_reconciler(
    generation: GenerationService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    replicate.lose_next_answer("create_prediction")
    started = await generation.generate_maya(alice, "hi")
    assert started.replicate_prediction_id is None

    await reconcile(generation)

    [upstream] = replicate.predictions.values()
    assert db.tables.generations[started.id].replicate_prediction_id == upstream.id
    assert len(replicate.calls_to("create_prediction")) == 1


async def test_reports_move_a_generation_forward_only(
    generation: GenerationService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    started = await generation.generate_maya(alice, "hi")
    assert started.replicate_prediction_id is not None
    running = replicate.update_prediction(
        started.replicate_prediction_id, status=UpstreamStatus.PROCESSING
    )
    await generation.apply(started.id, running)

    after = await generation.apply(started.id, replace(running, status=UpstreamStatus.STARTING))

    assert after is not None
    assert after.status is GenerationStatus.PROCESSING


async def test_a_report_for_another_prediction_changes_nothing(
    generation: GenerationService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    started = await generation.generate_maya(alice, "hi")
    assert started.replicate_prediction_id is not None
    other = replace(
        replicate.predictions[started.replicate_prediction_id],
        id="p-other",
        status=UpstreamStatus.FAILED,
    )
    before = db.snapshot()

    await generation.apply(started.id, other)

    assert db.tables == before


async def test_an_unknown_style_is_refused_with_nothing_sent(
    generation: GenerationService, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    before = db.snapshot()

    with pytest.raises(NotFound):
        await generation.generate_photoshoot(alice, "no-such-style", None)

    assert replicate.calls == []
    assert db.tables == before


async def test_a_photoshoot_renders_its_style_with_the_trigger_word(
    generation: GenerationService, replicate: FakeReplicate, alice: User
) -> None:
    style = generation.styles()[0]

    started = await generation.generate_photoshoot(alice, style.id, "wearing a red scarf")

    assert started.style_id == style.id
    assert started.prompt == style.render("useralice1", "wearing a red scarf")
    [body] = replicate.prediction_bodies.values()
    assert body["input"]["prompt"] == started.prompt


async def test_a_user_whose_model_is_training_is_told_to_follow_it(
    generation: GenerationService, db: FakeDatabase, replicate: FakeReplicate
) -> None:
    bob = db.add_user("bob1")
    db.add_model(bob.id)
    db.add_training(bob.id, status=TrainingStatus.PROCESSING, replicate_training_id="t0")

    with pytest.raises(ModelNotReady) as refused:
        await generation.generate_maya(bob, "hi")

    assert refused.value.next_step is NextStep.FOLLOW_TRAINING
    assert replicate.calls == []


async def test_outputs_not_fetched_yet_raise_for_a_retry_and_change_nothing(
    generation: GenerationService,
    db: FakeDatabase,
    fetcher: FakeOutputFetcher,
    storage: FakeImageStorage,
    alice: User,
) -> None:
    done = db.add_generation(alice.id, status=GenerationStatus.PROCESSING, output_urls=OUTPUTS)
    fetcher.errors[OUTPUTS[2]] = OutputUnavailable("503")
    before = db.snapshot()

    with pytest.raises(OutputUnavailable):
        await generation.store_outputs(done.id)

    assert db.tables == before
    assert db.notices == []
    assert storage.saved == {}
    del fetcher.errors[OUTPUTS[2]]
    await generation.store_outputs(done.id)
    assert db.tables.generations[done.id].status is GenerationStatus.SUCCEEDED


async def test_storing_the_outputs_of_a_generation_gone_done_or_without_any_does_nothing(
    generation: GenerationService, db: FakeDatabase, fetcher: FakeOutputFetcher, alice: User
) -> None:
    ended = db.add_generation(alice.id, status=GenerationStatus.SUCCEEDED, output_urls=OUTPUTS)
    waiting = db.add_generation(alice.id, status=GenerationStatus.PROCESSING)
    before = db.snapshot()

    for generation_id in (ended.id, waiting.id, "no-such-generation"):
        await generation.store_outputs(generation_id)

    assert db.tables == before
    assert fetcher.fetched == []


async def test_the_reconciler_queues_again_the_download_of_outputs_not_stored_yet(
    generation: GenerationService,
    db: FakeDatabase,
    replicate: FakeReplicate,
    alice: User,
) -> None:
    done = db.add_generation(
        alice.id,
        status=GenerationStatus.PROCESSING,
        replicate_prediction_id="p0",
        output_urls=OUTPUTS,
    )

    assert await reconcile(generation) == 1

    assert db.tables.tasks == [done.id]
    assert replicate.calls == []
    await run_tasks(db, generation)
    assert db.tables.generations[done.id].status is GenerationStatus.SUCCEEDED
    assert len(db.tables.images) == 3


async def test_picking_an_image_unpicks_the_others_and_only_the_owner_may(
    generation: GenerationService, db: FakeDatabase, alice: User
) -> None:
    done = db.add_generation(alice.id, status=GenerationStatus.PROCESSING, output_urls=OUTPUTS)
    await generation.store_outputs(done.id)
    first, second, _ = sorted(db.tables.images.values(), key=lambda image: image.position)

    await generation.select_image(alice, first.id)
    await generation.select_image(alice, second.id)
    with pytest.raises(NotFound):
        await generation.select_image(db.add_user("mallory1"), first.id)

    assert [image.id for image in db.tables.images.values() if image.selected] == [second.id]


# -- renditions ---------------------------------------------------------------------------


def png(width: int = 896, height: int = 1184) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(out, format="PNG")
    return out.getvalue()


async def stored_images(
    generation: GenerationService,
    db: FakeDatabase,
    storage: FakeImageStorage,
    alice: User,
    *,
    decodable: bool = True,
) -> list[GeneratedImage]:
    """A generation's three outputs stored (real PNGs unless not `decodable`), by position."""
    done = db.add_generation(alice.id, status=GenerationStatus.PROCESSING, output_urls=OUTPUTS)
    await generation.store_outputs(done.id)
    images = sorted(db.tables.images.values(), key=lambda image: image.position)
    if decodable:
        for image in images:
            storage.saved[image.storage_key] = (png(), image.content_type)
    return images


def size_of(content: bytes) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(content)) as image:
        return image.format, image.size


class FailingRenditionStorage(FakeImageStorage):
    """Saves originals, but the store is unreachable for renditions."""

    async def save(self, key: str, content: bytes, content_type: str) -> None:
        if content_type == RENDITION_TYPE:
            raise StorageUnavailable("the bucket is unreachable")
        await super().save(key, content, content_type)


class BucketStorage(FakeImageStorage):
    """A store with its own presigned URLs."""

    async def presigned_url(self, key: str, *, expires_in_seconds: int) -> str | None:
        return f"https://bucket.test/{key}?expires-in={expires_in_seconds}"


async def test_renditions_are_queued_in_the_transaction_that_records_the_images(
    generation: GenerationService,
    db: FakeDatabase,
    monkeypatch: pytest.MonkeyPatch,
    alice: User,
) -> None:
    done = db.add_generation(alice.id, status=GenerationStatus.PROCESSING, output_urls=OUTPUTS)
    before = db.snapshot()

    async def announce_fails(*_: object) -> None:
        raise RuntimeError("the announcement fails after the renditions were queued")

    monkeypatch.setattr(FakeEventPublisher, "generation_changed", announce_fails)
    with pytest.raises(RuntimeError):
        await generation.store_outputs(done.id)

    assert db.tables == before
    monkeypatch.undo()
    await generation.store_outputs(done.id)
    assert db.tables.rendition_tasks == [done.id]
    assert db.tables.generations[done.id].status is GenerationStatus.SUCCEEDED


async def test_the_rendition_task_makes_each_missing_size_once(
    generation: GenerationService,
    db: FakeDatabase,
    storage: FakeImageStorage,
    alice: User,
) -> None:
    images = await stored_images(generation, db, storage, alice)
    [generation_id] = db.take_rendition_tasks()

    await generation.make_renditions(generation_id)

    for image in images:
        assert db.tables.images[image.id].renditions == {ImageSize.THUMBNAIL, ImageSize.PREVIEW}
        thumbnail, kind = storage.saved[rendition_key(image.storage_key, ImageSize.THUMBNAIL)]
        assert (kind, size_of(thumbnail)) == (RENDITION_TYPE, ("WEBP", (291, 384)))
        preview, _ = storage.saved[rendition_key(image.storage_key, ImageSize.PREVIEW)]
        assert size_of(preview) == ("WEBP", (775, 1024))
    before, saved, commits = db.snapshot(), dict(storage.saved), db.commits
    await generation.make_renditions(generation_id)
    assert (db.tables, storage.saved, db.commits) == (before, saved, commits)


async def test_the_original_is_delivered_byte_for_byte(
    generation: GenerationService, db: FakeDatabase, storage: FakeImageStorage, alice: User
) -> None:
    image, *_ = await stored_images(generation, db, storage, alice)
    before = db.snapshot()

    delivery = await generation.image(image.id, valid_for_seconds=60)

    assert delivery is not None
    assert (delivery.content, delivery.content_type) == (
        storage.saved[image.storage_key][0],
        "image/png",
    )
    assert db.tables == before


async def test_a_rendition_not_made_yet_is_made_on_its_first_request(
    generation: GenerationService, db: FakeDatabase, storage: FakeImageStorage, alice: User
) -> None:
    image, *_ = await stored_images(generation, db, storage, alice)

    first = await generation.image(image.id, size=ImageSize.THUMBNAIL, valid_for_seconds=60)

    assert first is not None
    assert first.content is not None
    assert (first.content_type, size_of(first.content)) == (RENDITION_TYPE, ("WEBP", (291, 384)))
    assert db.tables.images[image.id].renditions == {ImageSize.THUMBNAIL}
    key = rendition_key(image.storage_key, ImageSize.THUMBNAIL)
    assert storage.saved[key] == (first.content, RENDITION_TYPE)
    commits = db.commits
    again = await generation.image(image.id, size=ImageSize.THUMBNAIL, valid_for_seconds=60)
    assert again == first
    assert db.commits == commits


def on_store(
    uow: FakeUnitOfWorkFactory, replicate: FakeReplicate, store: FakeImageStorage
) -> GenerationService:
    """A GenerationService on `store`."""
    return GenerationService(
        uow,
        replicate,
        EventHub(),
        StyleCatalogue.load(),
        store,
        FakeOutputFetcher(),
        GenerationConfig(),
    )


async def test_a_stores_own_url_is_given_for_a_made_rendition(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    bucket = BucketStorage()
    generation = on_store(uow, replicate, bucket)
    image, *_ = await stored_images(generation, db, bucket, alice)
    await generation.make_renditions(image.generation_id)

    delivery = await generation.image(image.id, size=ImageSize.PREVIEW, valid_for_seconds=90)

    key = rendition_key(image.storage_key, ImageSize.PREVIEW)
    assert delivery is not None
    assert (delivery.content_type, delivery.redirect_to, delivery.content) == (
        RENDITION_TYPE,
        f"https://bucket.test/{key}?expires-in=90",
        None,
    )


async def test_an_undecodable_original_is_served_as_it_is_and_fails_nothing(
    generation: GenerationService, db: FakeDatabase, storage: FakeImageStorage, alice: User
) -> None:
    image, *_ = await stored_images(generation, db, storage, alice, decodable=False)
    before, saved = db.snapshot(), dict(storage.saved)

    await generation.make_renditions(image.generation_id)
    delivery = await generation.image(image.id, size=ImageSize.PREVIEW, valid_for_seconds=60)

    assert delivery is not None
    assert (delivery.content, delivery.content_type) == (saved[image.storage_key][0], "image/png")
    assert (db.tables, storage.saved) == (before, saved)
    assert db.tables.generations[image.generation_id].status is GenerationStatus.SUCCEEDED


async def test_a_store_failing_while_rendering_raises_for_a_retry_and_keeps_the_generation(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    failing = FailingRenditionStorage()
    generation = on_store(uow, replicate, failing)
    image, *_ = await stored_images(generation, db, failing, alice)
    before = db.snapshot()

    with pytest.raises(StorageUnavailable):
        await generation.make_renditions(image.generation_id)

    assert db.tables == before
    assert db.tables.generations[image.generation_id].status is GenerationStatus.SUCCEEDED


async def test_a_rendition_made_on_request_is_served_even_when_it_cannot_be_kept(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, replicate: FakeReplicate, alice: User
) -> None:
    failing = FailingRenditionStorage()
    generation = on_store(uow, replicate, failing)
    image, *_ = await stored_images(generation, db, failing, alice)
    before = db.snapshot()

    delivery = await generation.image(image.id, size=ImageSize.THUMBNAIL, valid_for_seconds=60)

    assert delivery is not None
    assert delivery.content is not None
    assert (delivery.content_type, size_of(delivery.content)) == (
        RENDITION_TYPE,
        ("WEBP", (291, 384)),
    )
    assert db.tables == before


async def test_an_unknown_image_is_delivered_in_no_size(generation: GenerationService) -> None:
    for size in ImageSize:
        assert await generation.image("no-such-image", size=size, valid_for_seconds=60) is None
