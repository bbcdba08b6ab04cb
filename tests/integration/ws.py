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
async def raw_connection(origin: str) -> AsyncIterator[Any]:
    """A graphql-transport-ws socket to the server, not yet initialised."""
    url = origin.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[PROTOCOL]) as connection:  # type: ignore[list-item]
        yield connection


@asynccontextmanager
async def connect(origin: str, token: str) -> AsyncIterator[Any]:
    """A graphql-transport-ws connection the server has acknowledged."""
    async with raw_connection(origin) as connection:
        await connection.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        async with _timeout():
            ack = json.loads(await connection.recv())
        assert ack["type"] == "connection_ack", ack
        yield connection


async def send_subscribe(
    connection: Any, operation_id: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    payload = {"query": query, "variables": variables or {}}
    await connection.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))


async def until_closed(connection: Any) -> list[dict[str, Any]]:
    """Every message received until the server closes the socket (`connection.close_code`)."""
    messages: list[dict[str, Any]] = []
    async with _timeout():
        try:
            while True:
                messages.append(json.loads(await connection.recv()))
        except websockets.ConnectionClosed:
            return messages


@asynccontextmanager
async def subscribe(
    origin: str, token: str, query: str, variables: dict[str, Any] | None = None
) -> AsyncIterator[Subscription]:
    async with connect(origin, token) as connection:
        await send_subscribe(connection, "1", query, variables)
        yield Subscription(connection, "1")
