"""A graphql-transport-ws client for subscriptions in tests."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets

PROTOCOL = "graphql-transport-ws"
MESSAGE_TIMEOUT_SECONDS = 20


class Subscription:
    def __init__(self, connection: Any, operation_id: str) -> None:
        self._connection = connection
        self._id = operation_id

    async def next(self) -> dict[str, Any]:
        """The next message for this operation: `next` (its payload), `error` or `complete`."""
        async with _timeout():
            while True:
                message = json.loads(await self._connection.recv())
                if message.get("id") == self._id:
                    result: dict[str, Any] = message
                    return result

    async def payloads_until_complete(self) -> list[dict[str, Any]]:
        payloads: list[dict[str, Any]] = []
        while True:
            message = await self.next()
            if message["type"] != "next":
                assert message["type"] == "complete", message
                return payloads
            payloads.append(message["payload"])


def _timeout() -> asyncio.Timeout:
    return asyncio.timeout(MESSAGE_TIMEOUT_SECONDS)


@asynccontextmanager
async def subscribe(
    origin: str, token: str, query: str, variables: dict[str, Any] | None = None
) -> AsyncIterator[Subscription]:
    url = origin.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[PROTOCOL]) as connection:  # type: ignore[list-item]
        await connection.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await connection.recv())
        assert ack["type"] == "connection_ack", ack
        await connection.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        yield Subscription(connection, "1")
