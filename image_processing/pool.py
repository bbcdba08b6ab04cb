"""Selfies decoded in a pool of worker processes (the `SelfieProcessor` port).

Pillow holds the GIL for much of a decode, so threads would still stall the event
loop and use one core; processes use them all. Each upload keeps at most one image
per worker in flight, so uploads take turns on the pool instead of queueing whole
behind one another.
"""

import asyncio
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from domain.errors import ImageWorkersLost
from domain.training.selfies import CleanedSelfie, ReadSelfie, SelfieLimits, clean_selfie

log = logging.getLogger(__name__)

CleanFunction = Callable[[ReadSelfie, SelfieLimits], CleanedSelfie]
# Workers fork from a server process that imported only this (never from the threaded
# server itself, which fork would copy mid-flight).
_PRELOADED = ["domain.training.selfies"]


class ProcessSelfieProcessor:
    def __init__(self, workers: int, *, clean: CleanFunction = clean_selfie) -> None:
        if workers < 1:
            raise ValueError("need at least one worker")
        self._workers = workers
        self._clean = clean
        self._executor: ProcessPoolExecutor | None = None

    async def clean(
        self, selfies: Sequence[ReadSelfie], limits: SelfieLimits
    ) -> list[CleanedSelfie]:
        executor = self._pool()
        window = asyncio.Semaphore(self._workers)
        loop = asyncio.get_running_loop()

        async def one(selfie: ReadSelfie) -> CleanedSelfie:
            async with window:
                return await loop.run_in_executor(executor, self._clean, selfie, limits)

        tasks = [asyncio.ensure_future(one(selfie)) for selfie in selfies]
        try:
            return [await task for task in tasks]  # so the first refused by position wins
        except BrokenProcessPool as error:
            self._replace(executor)
            raise ImageWorkersLost from error
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOADED)
            self._executor = ProcessPoolExecutor(max_workers=self._workers, mp_context=context)
        return self._executor

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A worker died (killed, out of memory, crashed in a decoder): the pool is
        unusable, so the next upload gets a fresh one."""
        log.error("an image worker died; starting a fresh pool")
        if self._executor is broken:
            self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)
