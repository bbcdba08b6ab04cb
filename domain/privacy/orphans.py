"""Finding what no row refers to any more, and removing it after a grace period.

Crashes between steps can leave stored images whose generation is gone (an output
stored just as its generation was deleted) or selfie archives on the provider's file
store that no training records (an upload whose training never got recorded). Objects
of a generation that exists, and files a training refers to, are never touched; others
are removed once older than the grace period, which covers work still in flight.
"""

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.images import ImageStorage, StoredObject
from domain.ports import UnitOfWorkFactory
from domain.training.uploads import SELFIE_ARCHIVE_PREFIX
from domain.upstream import Replicate, UpstreamFile

log = logging.getLogger(__name__)

# "<user id>/<generation id>/<file>": the keys images are stored under.
_GENERATION_KEY = re.compile(r"[a-z0-9]{1,32}/([0-9a-f-]{36})/[^/]+")
BATCH = 500


@dataclass(frozen=True)
class CollectedOrphans:
    stored_objects: int
    provider_files: int


class OrphanCollector:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        replicate: Replicate,
        storage: ImageStorage,
        *,
        file_pages: int = 10,
    ) -> None:
        self._uow = uow
        self._replicate = replicate
        self._storage = storage
        self._file_pages = file_pages

    async def collect(self, *, grace: timedelta, include_provider: bool = True) -> CollectedOrphans:
        """Removes the orphans older than `grace`; how many of each kind."""
        cutoff = datetime.now(UTC) - grace
        stored = await self._collect_stored(cutoff)
        files = await self._collect_files(cutoff) if include_provider else 0
        if stored or files:
            log.warning("removed orphans: %d stored objects, %d provider files", stored, files)
        return CollectedOrphans(stored_objects=stored, provider_files=files)

    async def _collect_stored(self, cutoff: datetime) -> int:
        removed = 0
        batch: list[tuple[str, StoredObject]] = []
        async for stored in self._storage.list_objects():
            match = _GENERATION_KEY.fullmatch(stored.key)
            if match is None or stored.last_modified >= cutoff:
                continue
            batch.append((match.group(1), stored))
            if len(batch) >= BATCH:
                removed += await self._remove_unreferenced_objects(batch)
                batch = []
        if batch:
            removed += await self._remove_unreferenced_objects(batch)
        return removed

    async def _remove_unreferenced_objects(self, batch: Sequence[tuple[str, StoredObject]]) -> int:
        async with self._uow(read_only=True) as uow:
            existing = await uow.generations.existing_ids([generation for generation, _ in batch])
        orphans = [stored.key for generation, stored in batch if generation not in existing]
        for key in orphans:
            await self._storage.delete(key)
        return len(orphans)

    async def _collect_files(self, cutoff: datetime) -> int:
        files = [
            listed
            for listed in await self._replicate.list_files(max_pages=self._file_pages)
            if _is_old_archive(listed, cutoff)
        ]
        if not files:
            return 0
        async with self._uow(read_only=True) as uow:
            referenced = await uow.training_jobs.referenced_uploads([f.id for f in files])
        orphans = [listed.id for listed in files if listed.id not in referenced]
        for file_id in orphans:
            await self._replicate.delete_file(file_id)
        return len(orphans)


def _is_old_archive(listed: UpstreamFile, cutoff: datetime) -> bool:
    return (
        # Other files of the provider account are not this server's to judge.
        listed.name.startswith(SELFIE_ARCHIVE_PREFIX)
        and listed.created_at is not None
        and listed.created_at < cutoff
    )
