"""Gallery renditions end to end: made by the queued task, or on first request, and served
behind URLs whose signature covers their size."""

import functools
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pgqueuer.executors import DatabaseRetryEntrypointExecutor
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.generation.renditions import RenditionFailed, fitted_size
from domain.images import ImageSize, StorageUnavailable
from image_storage import LocalImageStorage
from persistence.task_queue import MAKE_RENDITIONS, make_renditions_key
from persistence.unit_of_work import SqlUnitOfWork
from server import worker
from tests.fake_replicate import FakeReplicate
from tests.integration.api import token_for
from tests.integration.studio import Studio, local, open_studio
from tests.task_queue import empty_queue, rows, task_log, until

SIZED_URLS = """
query($id: ID!) { node(id: $id) { ... on Generation { status images {
  id width height
  original: url
  explicit: url(size: ORIGINAL)
  preview: url(size: PREVIEW)
  thumbnail: url(size: THUMBNAIL)
} } } }
"""
BOTH = {"thumbnail", "preview"}
QUEUED = (
    "SELECT dedupe_key, payload FROM pgqueuer"  # noqa: S608 (test SQL, our own constant)
    f" WHERE entrypoint = '{MAKE_RENDITIONS}'"
)


@pytest.fixture
async def queue(engine: AsyncEngine) -> AsyncEngine:
    await empty_queue(engine)
    return engine


async def sized_urls(studio: Studio, generation_id: str) -> dict[str, Any]:
    body = await studio.api.graphql(
        SIZED_URLS, token=token_for("alice"), variables={"id": generation_id}
    )
    node: dict[str, Any] = body["data"]["node"]
    return node


async def renditions(studio: Studio, generation_id: str) -> list[set[str]]:
    found = await studio.rows(
        "SELECT renditions FROM generated_images WHERE generation_id = :g ORDER BY position",
        g=local(generation_id),
    )
    return [set(row["renditions"]) for row in found]


async def task_ended(engine: AsyncEngine, outcome: str) -> None:
    """Waits until a `make_renditions` task ended with `outcome` (a pgqueuer_log status)."""
    await until(
        engine, task_log(MAKE_RENDITIONS), lambda log: any(r["status"] == outcome for r in log)
    )


def decoded(response: httpx.Response) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(response.content)) as image:
        return image.format, image.size


async def test_the_queued_task_makes_the_renditions_after_a_generation_succeeds(
    studio: Studio, queue: AsyncEngine, data_dir: Path
) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "on a boat")

    await task_ended(queue, "successful")

    assert generation["status"] == "SUCCEEDED"
    assert await renditions(studio, generation["id"]) == [BOTH, BOTH, BOTH]
    shown = await sized_urls(studio, generation["id"])
    image = shown["images"][0]
    assert image["explicit"] == image["original"]
    assert "size=" not in image["original"]
    thumbnail = await studio.api.client.get(image["thumbnail"])
    preview = await studio.api.client.get(image["preview"])
    original = await studio.api.client.get(image["original"])
    assert thumbnail.headers["content-type"] == "image/webp"
    assert decoded(thumbnail) == ("WEBP", fitted_size(image["width"], image["height"], 384))
    assert decoded(preview) == ("WEBP", fitted_size(image["width"], image["height"], 1024))
    stored = await studio.rows(
        "SELECT storage_key FROM generated_images WHERE id = :i", i=local(image["id"])
    )
    assert original.content == (data_dir / "images" / stored[0]["storage_key"]).read_bytes()
    assert original.headers["content-type"] == "image/png"


async def test_a_rendition_not_made_yet_is_made_on_its_first_request(
    studio: Studio, queue: AsyncEngine, data_dir: Path
) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "on a boat")
    await task_ended(queue, "successful")
    # As for images stored before renditions existed: none made, none recorded.
    async with queue.begin() as connection:
        await connection.exec_driver_sql("UPDATE generated_images SET renditions = '{}'")
    for made in (data_dir / "images").rglob("*.webp"):
        made.unlink()
    image = (await sized_urls(studio, generation["id"]))["images"][1]

    response = await studio.api.client.get(image["thumbnail"])

    assert response.status_code == 200
    assert decoded(response) == ("WEBP", fitted_size(image["width"], image["height"], 384))
    assert await renditions(studio, generation["id"]) == [set(), {"thumbnail"}, set()]
    assert len(list((data_dir / "images").rglob("*.thumbnail.webp"))) == 1


@pytest.mark.parametrize(
    ("signed", "asked"),
    [
        ("thumbnail", "preview"),
        ("thumbnail", "original"),
        ("thumbnail", None),
        ("preview", "thumbnail"),
        ("original", "thumbnail"),
        ("thumbnail", "huge"),
    ],
)
async def test_a_signed_url_cannot_be_turned_into_another_size(
    studio: Studio, signed: str, asked: str | None
) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "on a boat")
    url = httpx.URL((await sized_urls(studio, generation["id"]))["images"][0][signed])
    params = {key: value for key, value in url.params.items() if key != "size"}
    if asked is not None:
        params["size"] = asked

    response = await studio.api.client.get(str(url.copy_with(params=params)))

    assert response.status_code == 403
    assert (await studio.api.client.get(str(url))).status_code == 200


async def test_a_broken_rendition_never_fails_the_generation(
    studio: Studio, queue: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(original: bytes, size: ImageSize) -> bytes:
        raise RenditionFailed("cannot identify image file")

    monkeypatch.setattr("domain.generation.service.make_rendition", broken)
    await studio.trained("alice")

    generation = await studio.generated("alice", "on a boat")
    await task_ended(queue, "successful")

    assert generation["status"] == "SUCCEEDED"
    shown = await sized_urls(studio, generation["id"])
    assert shown["status"] == "SUCCEEDED"
    assert await renditions(studio, generation["id"]) == [set(), set(), set()]
    # Its URLs serve the original instead: an image all the same.
    image = shown["images"][0]
    thumbnail = await studio.api.client.get(image["thumbnail"])
    original = await studio.api.client.get(image["original"])
    assert thumbnail.status_code == 200
    assert (thumbnail.headers["content-type"], thumbnail.content) == (
        "image/png",
        original.content,
    )


async def test_a_failing_rendition_task_leaves_the_generation_succeeded(
    database_url: str,
    data_dir: Path,
    queue: AsyncEngine,
    fake_replicate: FakeReplicate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keep = LocalImageStorage.save

    async def unreachable_for_renditions(
        self: LocalImageStorage, key: str, content: bytes, content_type: str
    ) -> None:
        if key.endswith(".webp"):
            raise StorageUnavailable("the store refused the rendition")
        await keep(self, key, content, content_type)

    monkeypatch.setattr(LocalImageStorage, "save", unreachable_for_renditions)
    # Two quick attempts instead of five over half a minute.
    quick = functools.partial(
        DatabaseRetryEntrypointExecutor,
        max_attempts=2,
        initial_delay=timedelta(milliseconds=10),
        max_delay=timedelta(milliseconds=10),
    )
    monkeypatch.setattr(worker, "RENDITION_RETRIES", quick)
    async with open_studio(database_url, data_dir, queue, fake_replicate) as studio:
        await studio.trained("alice")
        generation = await studio.generated("alice", "on a boat")

        await task_ended(queue, "exception")

        shown = await sized_urls(studio, generation["id"])
        assert (generation["status"], shown["status"]) == ("SUCCEEDED", "SUCCEEDED")
        assert await renditions(studio, generation["id"]) == [set(), set(), set()]
        # Still made on request, and shown though the store would not keep it.
        image = shown["images"][0]
        response = await studio.api.client.get(image["thumbnail"])
        assert response.status_code == 200
        assert decoded(response) == ("WEBP", fitted_size(image["width"], image["height"], 384))


async def test_a_rendition_task_is_queued_once_and_only_with_its_transaction(
    queue: AsyncEngine,
) -> None:
    generation_id = "5b0c4c2e-7d0e-4d65-9a55-2f7c0a1e9b11"
    async with SqlUnitOfWork(queue) as uow:
        await uow.tasks.make_renditions(generation_id)
        # Not committed: leaving rolls it back.
    assert await rows(queue, QUEUED) == []

    for _ in range(2):
        async with SqlUnitOfWork(queue) as uow:
            await uow.tasks.make_renditions(generation_id)
            await uow.tasks.make_renditions(generation_id)
            await uow.commit()

    assert await rows(queue, QUEUED) == [
        {"dedupe_key": make_renditions_key(generation_id), "payload": generation_id.encode()}
    ]


async def test_a_rendition_recorded_again_is_listed_once(
    studio: Studio, queue: AsyncEngine
) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "on a boat")
    await task_ended(queue, "successful")
    image_id = local((await sized_urls(studio, generation["id"]))["images"][0]["id"])

    async with SqlUnitOfWork(queue) as uow:
        await uow.images.add_rendition(image_id, ImageSize.THUMBNAIL)
        await uow.commit()

    found = await studio.rows("SELECT renditions FROM generated_images WHERE id = :i", i=image_id)
    assert sorted(found[0]["renditions"]) == ["preview", "thumbnail"]
