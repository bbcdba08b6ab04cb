"""The process pool that decodes selfies: order, refusals, turns between uploads, crashes."""

import asyncio
import multiprocessing
import os
import time
from collections.abc import AsyncIterator

import pytest

from domain.errors import BadUserInput, ImageWorkersLost
from domain.training.selfies import (
    DEFAULT_LIMITS,
    CleanedSelfie,
    ReadSelfie,
    SelfieLimits,
    clean_selfie,
)
from image_processing import ProcessSelfieProcessor
from tests.selfies import make_selfie

WORK_SECONDS = 0.05


def timed_clean(selfie: ReadSelfie, limits: SelfieLimits) -> CleanedSelfie:
    """Stands in for decoding: says which process ran it, and when."""
    started = time.monotonic_ns()
    time.sleep(WORK_SECONDS)
    stamp = f"{os.getpid()} {started} {time.monotonic_ns()}"
    return CleanedSelfie(jpeg=stamp.encode(), fingerprint=selfie.label.encode())


def crashing_clean(selfie: ReadSelfie, limits: SelfieLimits) -> CleanedSelfie:
    if selfie.label == "crash":
        os._exit(1)
    return timed_clean(selfie, limits)


def read(position: int, data: bytes = b"", label: str | None = None) -> ReadSelfie:
    return ReadSelfie(position=position, label=label or f"Photo {position}", data=data)


def selfies(count: int, first_seed: int = 1) -> list[ReadSelfie]:
    return [read(position, make_selfie(first_seed + position)) for position in range(count)]


@pytest.fixture
async def processor() -> AsyncIterator[ProcessSelfieProcessor]:
    opened = ProcessSelfieProcessor(2)
    yield opened
    await opened.close()


async def test_cleans_every_selfie_in_another_process_in_order(
    processor: ProcessSelfieProcessor,
) -> None:
    batch = selfies(6)

    cleaned = await processor.clean(batch, DEFAULT_LIMITS)

    assert cleaned == [clean_selfie(selfie, DEFAULT_LIMITS) for selfie in batch]


async def test_the_first_refused_photo_by_position_is_reported(
    processor: ProcessSelfieProcessor,
) -> None:
    batch = selfies(10)
    batch[2] = read(3, b"\xff\xd8\xff" + bytes(100), "Photo 3 (a.jpg)")
    batch[7] = read(8, b"\xff\xd8\xff" + bytes(100), "Photo 8 (b.jpg)")

    with pytest.raises(BadUserInput) as caught:
        await processor.clean(batch, DEFAULT_LIMITS)

    assert caught.value.message.startswith("Photo 3 (a.jpg) ")


async def test_work_runs_in_worker_processes() -> None:
    processor = ProcessSelfieProcessor(2, clean=timed_clean)
    try:
        cleaned = await processor.clean([read(n) for n in range(4)], DEFAULT_LIMITS)
    finally:
        await processor.close()

    pids = {int(selfie.jpeg.split()[0]) for selfie in cleaned}
    assert os.getpid() not in pids


async def test_two_uploads_take_turns_instead_of_queueing_whole() -> None:
    processor = ProcessSelfieProcessor(1, clean=timed_clean)
    try:
        first, second = await asyncio.gather(
            processor.clean([read(n, label=f"a{n}") for n in range(5)], DEFAULT_LIMITS),
            processor.clean([read(n, label=f"b{n}") for n in range(5)], DEFAULT_LIMITS),
        )
    finally:
        await processor.close()

    def started(selfie: CleanedSelfie) -> int:
        return int(selfie.jpeg.split()[1])

    def ended(selfie: CleanedSelfie) -> int:
        return int(selfie.jpeg.split()[2])

    assert started(second[0]) < ended(first[1])
    assert started(first[1]) < ended(second[1])


async def test_a_dead_worker_fails_that_upload_and_the_next_one_is_served() -> None:
    processor = ProcessSelfieProcessor(2, clean=crashing_clean)
    try:
        with pytest.raises(ImageWorkersLost):
            await processor.clean([read(1), read(2, label="crash"), read(3)], DEFAULT_LIMITS)

        cleaned = await processor.clean([read(1), read(2)], DEFAULT_LIMITS)
    finally:
        await processor.close()

    assert [selfie.fingerprint for selfie in cleaned] == [b"Photo 1", b"Photo 2"]


async def test_closing_stops_the_workers() -> None:
    processor = ProcessSelfieProcessor(2, clean=timed_clean)
    await processor.clean([read(n) for n in range(4)], DEFAULT_LIMITS)
    assert multiprocessing.active_children()

    await processor.close()

    assert multiprocessing.active_children() == []


def test_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="worker"):
        ProcessSelfieProcessor(0)
