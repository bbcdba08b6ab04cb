"""Change notices, fanned out to this process's followers.

Notices come from every replica (PostgreSQL NOTIFY, see persistence/notifications.py).
A follower that may have missed some (the listener reconnected, or it fell behind)
receives `None`: re-read the state.
"""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

Notice = dict[str, Any] | None

FOLLOWER_BACKLOG = 64


class EventHub:
    def __init__(self) -> None:
        self._followers: defaultdict[str, set[asyncio.Queue[Notice]]] = defaultdict(set)

    @asynccontextmanager
    async def follow(self, topic: str) -> AsyncIterator[asyncio.Queue[Notice]]:
        queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=FOLLOWER_BACKLOG)
        self._followers[topic].add(queue)
        try:
            yield queue
        finally:
            followers = self._followers[topic]
            followers.discard(queue)
            if not followers:
                del self._followers[topic]

    def dispatch(self, topic: str, notice: Notice) -> None:
        """Hands the notice to the topic's followers (None: "changed, re-read it")."""
        for queue in self._followers.get(topic, ()):
            _offer(queue, notice)

    def resync_all(self) -> None:
        for followers in self._followers.values():
            for queue in followers:
                _offer(queue, None)


def _offer(queue: asyncio.Queue[Notice], notice: Notice) -> None:
    if queue.full():
        # Too far behind: drop the backlog and ask for a re-read instead.
        while not queue.empty():
            queue.get_nowait()
        notice = None
    queue.put_nowait(notice)


def training_topic(job_id: str) -> str:
    return f"training:{job_id}"


def generation_topic(generation_id: str) -> str:
    return f"generation:{generation_id}"
