"""Every rule of startTraining broken once: a coded error, no row changed, nothing upstream."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import server.runtime
from domain.training.selfies import CleanedSelfie, ReadSelfie, SelfieLimits
from image_processing import ProcessSelfieProcessor
from tests.fake_replicate import FakeReplicate
from tests.integration.api import error_codes
from tests.integration.studio import Studio, open_studio
from tests.selfies import make_selfie, make_selfies

TABLES = ("training_jobs", "user_models", "replicate_owners")
WAIT_SECONDS = 30


@dataclass
class Decoding:
    """What reached the image pool; the first upload can be held at its door."""

    uploads: int = 0
    hold_first: asyncio.Event | None = None
    first_entered: asyncio.Event = field(default_factory=asyncio.Event)


class WatchedProcessor(ProcessSelfieProcessor):
    def __init__(self, workers: int, decoding: Decoding) -> None:
        super().__init__(workers)
        self._decoding = decoding

    async def clean(
        self, selfies: Sequence[ReadSelfie], limits: SelfieLimits
    ) -> list[CleanedSelfie]:
        self._decoding.uploads += 1
        if self._decoding.uploads == 1:
            self._decoding.first_entered.set()
            if self._decoding.hold_first is not None:
                await self._decoding.hold_first.wait()
        return await super().clean(selfies, limits)


WatchedStudio = Callable[..., AbstractAsyncContextManager[Studio]]


@pytest.fixture
def watched_studio(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    data_dir: Path,
    engine: AsyncEngine,
    fake_replicate: FakeReplicate,
) -> WatchedStudio:
    """Opens a studio, its settings changed as given, whose image pool reports to `decoding`."""

    @asynccontextmanager
    async def watched(decoding: Decoding, **settings: Any) -> AsyncIterator[Studio]:
        monkeypatch.setattr(
            server.runtime,
            "ProcessSelfieProcessor",
            lambda workers: WatchedProcessor(workers, decoding),
        )
        async with open_studio(
            database_url, data_dir, engine, fake_replicate, **settings
        ) as studio:
            yield studio

    return watched


async def assert_nothing_changed(studio: Studio) -> None:
    for table in TABLES:
        assert await studio.count(table) == 0, table
    assert studio.fake.requests == []


@pytest.mark.parametrize(
    ("images", "hint"),
    [
        (make_selfies(9), "at least 10"),
        (make_selfies(31), "at most 30"),
        ([*make_selfies(9), b"this is not an image"], "JPEG, PNG or WebP"),
        ([*make_selfies(9), make_selfie(99, size=(400, 600))], "512"),
        ([*make_selfies(9), make_selfie(1)], "same picture"),
    ],
    ids=["too-few", "too-many", "not-an-image", "too-small", "duplicate"],
)
async def test_bad_selfies_are_refused_and_change_nothing(
    studio: Studio, images: list[bytes], hint: str
) -> None:
    body = await studio.start_training("alice", images)

    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert hint in body["errors"][0]["message"]
    await assert_nothing_changed(studio)


async def test_without_a_replicate_token_nothing_starts(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> None:
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, replicate_api_token=None
    ) as studio:
        body = await studio.start_training("alice", make_selfies(10))

        assert error_codes(body) == ["NOT_CONFIGURED"]
        await assert_nothing_changed(studio)


async def test_two_concurrent_starts_make_one_job(studio: Studio) -> None:
    bodies = await asyncio.gather(
        studio.start_training("alice", make_selfies(10)),
        studio.start_training("alice", make_selfies(10, first_seed=50)),
    )

    codes = sorted(error_codes(body)[0] if "errors" in body else "OK" for body in bodies)
    assert codes == ["OK", "TRAINING_IN_PROGRESS"]
    assert await studio.count("training_jobs") == 1
    assert await studio.count("user_models") == 1
    assert len(studio.fake.trainings) == 1


async def test_a_second_start_while_one_runs_is_refused(studio: Studio) -> None:
    await studio.start_training("alice", make_selfies(10))

    body = await studio.start_training("alice", make_selfies(10, first_seed=50))

    assert error_codes(body) == ["TRAINING_IN_PROGRESS"]
    assert await studio.count("training_jobs") == 1
    assert len(studio.fake.trainings) == 1


async def test_an_unreachable_provider_fails_the_job_with_a_retryable_message(
    studio: Studio,
) -> None:
    studio.fake.fail_next("POST", "/files", 503, times=10)

    body = await studio.start_training("alice", make_selfies(10))

    assert error_codes(body) == ["UPSTREAM_UNAVAILABLE"]
    jobs = await studio.rows("SELECT status, error FROM training_jobs")
    assert [job["status"] for job in jobs] == ["FAILED"]
    assert "again" in jobs[0]["error"]
    models = await studio.rows("SELECT status FROM user_models")
    assert [model["status"] for model in models] == ["FAILED"]
    assert studio.fake.trainings == []


async def test_a_start_whose_answer_was_lost_is_found_by_its_webhook(studio: Studio) -> None:
    fake = studio.fake
    fake.fail_next("POST", "/models/ostris", 500, process=True)

    body = await studio.start_training("alice", make_selfies(10))
    await fake.settle()

    job = body["data"]["startTraining"]["trainingJob"]
    assert job["status"] == "QUEUED"
    assert len(fake.trainings) == 1
    assert len(fake.calls("POST", "/models/ostris")) == 1  # not sent twice
    await fake.play(fake.trainings[-1].id)
    await fake.settle()
    finished = await studio.job("alice", job["id"])
    assert finished["status"] == "SUCCEEDED"
    assert finished["replicateTrainingId"] == fake.trainings[-1].id


async def test_models_go_to_the_next_owner_when_one_is_full(
    database_url: str,
    data_dir: Path,
    engine: AsyncEngine,
    fake_replicate: FakeReplicate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_replicate.owners.add("studio-two")
    async with open_studio(
        database_url,
        data_dir,
        engine,
        fake_replicate,
        replicate_models_per_owner=1,
        replicate_extra_owners="studio-two",
    ) as studio:
        first = await studio.start_training("alice", make_selfies(10))
        second = await studio.start_training("bob", make_selfies(10))
        requests_before = len(fake_replicate.requests)
        third = await studio.start_training("carol", make_selfies(10))

        owners = [
            body["data"]["startTraining"]["model"]["replicateModelId"].split("/")[0]
            for body in (first, second)
        ]
        assert owners == ["sandrasocial", "studio-two"]
        assert error_codes(third) == ["CAPACITY_REACHED"]
        # The reconciler may poll the first two meanwhile: only what the third would send counts.
        assert [r for r in fake_replicate.requests[requests_before:] if r.method != "GET"] == []
        assert await studio.count("user_models") == 2
        assert any(
            record.levelno == logging.ERROR and "CAPACITY REACHED" in record.getMessage()
            for record in caplog.records
        )


async def test_a_spent_daily_allowance_is_refused_before_any_photo_is_decoded(
    watched_studio: WatchedStudio,
) -> None:
    decoding = Decoding()
    async with watched_studio(decoding, daily_training_limit=1) as studio:
        await studio.trained("alice")
        requests_before = len(studio.fake.requests)
        decoded_before = decoding.uploads

        body = await studio.start_training("alice", make_selfies(30, first_seed=100))

        assert error_codes(body) == ["QUOTA_EXCEEDED"]
        error = body["errors"][0]
        assert "started 1 trainings today" in error["message"]
        assert error["extensions"]["retryAfter"] > 0
        assert decoding.uploads == decoded_before
        assert await studio.count("training_jobs") == 1
        assert len(studio.fake.requests) == requests_before


async def test_the_same_photo_last_is_refused_before_any_photo_is_decoded(
    watched_studio: WatchedStudio,
) -> None:
    decoding = Decoding()
    async with watched_studio(decoding) as studio:
        selfies = make_selfies(29)
        body = await studio.start_training("alice", [*selfies, selfies[0]])

        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert body["errors"][0]["message"].startswith("Photos 1 and 30 are the same picture")
        assert decoding.uploads == 0
        await assert_nothing_changed(studio)


async def test_a_second_upload_of_a_user_is_refused_while_the_first_is_decoded(
    watched_studio: WatchedStudio,
) -> None:
    decoding = Decoding(hold_first=asyncio.Event())
    assert decoding.hold_first is not None
    async with watched_studio(decoding) as studio:
        first = asyncio.create_task(studio.start_training("alice", make_selfies(10)))
        await asyncio.wait_for(decoding.first_entered.wait(), WAIT_SECONDS)

        second = await studio.start_training("alice", make_selfies(10, first_seed=50))
        someone_else = await studio.start_training("bob", make_selfies(10, first_seed=80))

        assert error_codes(second) == ["TRAINING_IN_PROGRESS"]
        assert "errors" not in someone_else
        assert decoding.uploads == 2  # alice's first and bob's
        decoding.hold_first.set()
        assert "errors" not in await asyncio.wait_for(first, WAIT_SECONDS)
        assert await studio.count("training_jobs") == 2
        assert len(studio.fake.trainings) == 2
