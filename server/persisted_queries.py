"""Automatic persisted queries, as Apollo's protocol has them.

A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` with no query; an
unknown hash answers PERSISTED_QUERY_NOT_FOUND and the client sends the query once with
its hash, which registers it. Registered queries live in PostgreSQL (shared by replicas,
bounded) behind a small in-process cache: a hash names one query for good, so the cache
never needs invalidating.
"""

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from domain.errors import ErrorCode

PROTOCOL_VERSION = 1
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"  # the message Apollo's clients also look for


class PersistedQueryStore(Protocol):
    async def get(self, sha256_hash: str) -> str | None: ...

    async def put(self, sha256_hash: str, query: str) -> None:
        """Keeps the query (the store drops its oldest entries beyond its bound)."""
        ...


class PersistedQueryError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ResolvedQuery:
    query: str | None
    # The hash to register the query under once it has run, when the client sent both.
    register_as: str | None = None


def _persisted_query_hash(extensions: dict[str, object] | None) -> str | None:
    """The requested hash, None when the request uses no persisted query."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != PROTOCOL_VERSION:
        raise PersistedQueryError(
            ErrorCode.BAD_USER_INPUT,
            f"extensions.persistedQuery must be {{version: {PROTOCOL_VERSION}, sha256Hash}}.",
        )
    sha256_hash = persisted.get("sha256Hash")
    if not isinstance(sha256_hash, str) or not _SHA256_HEX.fullmatch(sha256_hash):
        raise PersistedQueryError(
            ErrorCode.BAD_USER_INPUT,
            "extensions.persistedQuery.sha256Hash must be 64 lowercase hexadecimal digits.",
        )
    return sha256_hash


class PersistedQueries:
    def __init__(self, store: PersistedQueryStore, *, cache_size: int = 1_000) -> None:
        self._store = store
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    async def resolve(
        self, query: str | None, extensions: dict[str, object] | None
    ) -> ResolvedQuery:
        """The query to run; raises PersistedQueryError for a bad or unknown hash."""
        sha256_hash = _persisted_query_hash(extensions)
        if sha256_hash is None:
            return ResolvedQuery(query)
        if query is not None:
            if hashlib.sha256(query.encode()).hexdigest() != sha256_hash:
                raise PersistedQueryError(
                    ErrorCode.BAD_USER_INPUT,
                    "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query.",
                )
            known = sha256_hash in self._cache
            return ResolvedQuery(query, register_as=None if known else sha256_hash)
        found = await self._lookup(sha256_hash)
        if found is None:
            raise PersistedQueryError(ErrorCode.PERSISTED_QUERY_NOT_FOUND, NOT_FOUND_MESSAGE)
        return ResolvedQuery(found)

    async def register(self, sha256_hash: str, query: str) -> None:
        await self._store.put(sha256_hash, query)
        self._remember(sha256_hash, query)

    async def _lookup(self, sha256_hash: str) -> str | None:
        cached = self._cache.get(sha256_hash)
        if cached is not None:
            self._cache.move_to_end(sha256_hash)
            return cached
        found = await self._store.get(sha256_hash)
        if found is not None:
            self._remember(sha256_hash, found)
        return found

    def _remember(self, sha256_hash: str, query: str) -> None:
        self._cache[sha256_hash] = query
        self._cache.move_to_end(sha256_hash)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
