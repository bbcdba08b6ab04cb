"""How many pooled connections one request's units of work may hold at once.

A GraphQL request resolves its root fields concurrently, and each may open a unit of
work: thirty aliases of one field would take thirty connections, most of the pool, from
one request. With a share in place (`share_connections`, at the start of a request)
the request's units of work wait for one of its own few slots instead, and the rest of
the pool stays free for everyone else.

The share is carried in a context variable, so it reaches every task the request starts
(field resolvers, DataLoader batches). A unit of work opened inside another in the same
task takes no second slot: waiting for one there could wait forever.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

MAX_CONNECTIONS_PER_REQUEST = 4


class ConnectionShare:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("A request needs at least one connection")
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._held: dict[asyncio.Task[object] | None, int] = {}

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Held while a unit of work holds its connection."""
        task = asyncio.current_task()
        if self._held.get(task):
            self._held[task] += 1
            try:
                yield
            finally:
                self._held[task] -= 1
            return
        async with self._slots:
            self._held[task] = 1
            try:
                yield
            finally:
                del self._held[task]


_current: ContextVar[ConnectionShare | None] = ContextVar("connection_share", default=None)


def share_connections(limit: int = MAX_CONNECTIONS_PER_REQUEST) -> ConnectionShare:
    """From here on, this task and those it starts hold at most `limit` connections."""
    share = ConnectionShare(limit)
    _current.set(share)
    return share


def current_share() -> ConnectionShare | None:
    return _current.get()
