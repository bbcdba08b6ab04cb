"""The graphql-transport-ws handler closes the socket with 4401 at the token's expiry,
cancelling what runs, and never starts an operation after it."""

import asyncio
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from domain.users.models import User
from request_context.context import Credentials
from server.websocket_auth import SignedInTransportWSHandler

WAIT_SECONDS = 10
SUBSCRIBE: Any = {"id": "1", "type": "subscribe", "payload": {"query": "subscription { x }"}}
CONNECTION_INIT: Any = {"type": "connection_init", "payload": {}}


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closes: list[int] = []
        self.closed = asyncio.Event()

    async def send_json(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def close(self, code: int, reason: str) -> None:
        self.closes.append(code)
        self.closed.set()


class FakeSchema:
    """Records each operation it is asked to run; `endless` ones wait until cancelled."""

    def __init__(self, *, endless: bool = False) -> None:
        self.started: list[str] = []
        self.cancelled = asyncio.Event()
        self._endless = endless

    async def stream(self, query: str, **_: Any) -> AsyncGenerator[ExecutionResult]:
        self.started.append(query)
        return self._results()

    async def _results(self) -> AsyncGenerator[ExecutionResult]:
        yield ExecutionResult(data={"x": 1}, errors=None)
        if self._endless:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise


class FakeView:
    async def on_ws_connect(self, context: Any) -> Any:
        return UNSET


def handler_for(
    expires_in: float, schema: FakeSchema, socket: FakeSocket
) -> SignedInTransportWSHandler:
    user = User(id="abc123", subject="alice", created_at=datetime.now(UTC))
    credentials = Credentials(user=user, presented=True, expires_at=time.time() + expires_in)
    context: Any = SimpleNamespace(credentials=credentials, connection_params=None)
    view: Any = FakeView()
    return SignedInTransportWSHandler(
        view=view,
        websocket=socket,  # type: ignore[arg-type]
        context=context,
        root_value=None,
        schema=schema,  # type: ignore[arg-type]
        connection_init_wait_timeout=timedelta(minutes=1),
    )


async def run_operations(handler: SignedInTransportWSHandler) -> None:
    tasks = [op.task for op in handler.operations.values() if op.task]
    async with asyncio.timeout(WAIT_SECONDS):
        await asyncio.gather(*tasks)


async def test_a_subscribe_after_expiry_closes_4401_and_never_runs() -> None:
    schema, socket = FakeSchema(), FakeSocket()
    handler = handler_for(-1, schema, socket)
    handler.connection_acknowledged = True

    await handler.handle_subscribe(SUBSCRIBE)

    assert socket.closes == [4401]
    assert schema.started == []
    assert handler.operations == {}
    assert socket.sent == []


async def test_a_subscribe_before_expiry_runs() -> None:
    schema, socket = FakeSchema(), FakeSocket()
    handler = handler_for(600, schema, socket)
    handler.connection_acknowledged = True

    await handler.handle_subscribe(SUBSCRIBE)
    await run_operations(handler)

    assert schema.started == ["subscription { x }"]
    assert [message["type"] for message in socket.sent] == ["next", "complete"]
    assert socket.closes == []


async def test_at_expiry_running_operations_stop_and_the_socket_closes_with_4401() -> None:
    schema, socket = FakeSchema(endless=True), FakeSocket()
    handler = handler_for(0.2, schema, socket)
    await handler.handle_connection_init(CONNECTION_INIT)
    await handler.handle_subscribe(SUBSCRIBE)

    async with asyncio.timeout(WAIT_SECONDS):
        await socket.closed.wait()
        await schema.cancelled.wait()

    assert socket.closes == [4401]
    assert handler.operations == {}
    assert time.time() >= handler.context.credentials.expires_at  # type: ignore[operator]

    second: Any = {**SUBSCRIBE, "id": "2"}
    await handler.handle_subscribe(second)
    assert schema.started == ["subscription { x }"]
    assert socket.closes == [4401]
    await handler.shutdown()


async def test_a_token_already_expired_at_connection_init_is_closed_at_once() -> None:
    schema, socket = FakeSchema(), FakeSocket()
    handler = handler_for(-1, schema, socket)

    await handler.handle_connection_init(CONNECTION_INIT)
    async with asyncio.timeout(WAIT_SECONDS):
        await socket.closed.wait()

    assert [message["type"] for message in socket.sent] == ["connection_ack"]
    assert socket.closes == [4401]
    await handler.shutdown()


async def test_shutdown_stops_the_expiry_timer() -> None:
    schema, socket = FakeSchema(), FakeSocket()
    handler = handler_for(0.2, schema, socket)
    await handler.handle_connection_init(CONNECTION_INIT)

    await handler.shutdown()

    assert handler._expiry is not None
    assert handler._expiry.cancelled()
    assert socket.closes == []


@pytest.mark.parametrize(
    ("credentials", "left"),
    [
        (Credentials(), 0.0),
        (Credentials(presented=True), 0.0),
        (Credentials(user=User("abc", "alice", datetime.now(UTC)), presented=True), 0.0),
        (
            Credentials(
                user=User("abc", "alice", datetime.now(UTC)), presented=True, expires_at=1010.5
            ),
            10.5,
        ),
        (
            Credentials(
                user=User("abc", "alice", datetime.now(UTC)), presented=True, expires_at=900.0
            ),
            0.0,
        ),
    ],
    ids=["anonymous", "rejected", "no-expiry", "valid", "expired"],
)
def test_seconds_left(credentials: Credentials, left: float) -> None:
    assert credentials.seconds_left(1000.0) == left
