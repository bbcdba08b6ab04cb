"""graphql-transport-ws where a connection lives no longer than the token it signed in with,
and each operation is in the access log: a line when it starts, one when it ends."""

import asyncio
import logging
import time
from contextlib import suppress

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from request_context.context import RequestContext
from server.logging_setup import ACCESS_LOGGER

TOKEN_EXPIRED_CLOSE_CODE = 4401
TOKEN_EXPIRED_REASON = "Unauthorized: the token has expired"  # noqa: S105 (a message)
# How an operation ended: it completed, sent errors, was stopped (by the client, the
# connection's end or the token's expiry), or failed here.
COMPLETED, ERRORED, CANCELLED, FAILED = "completed", "error", "cancelled", "failed"

access_log = logging.getLogger(ACCESS_LOGGER)


class SignedInTransportWSHandler(BaseGraphQLTransportWSHandler[RequestContext, None]):
    """Closes the socket with 4401 when the connection_init token expires (running
    operations are cancelled first), and never starts an operation after that."""

    _expiry: asyncio.Task[None] | None = None
    _closed_for_expiry = False
    _errored: frozenset[str] = frozenset()  # running operations that sent errors

    async def run_operation(self, operation: Operation[RequestContext, None]) -> None:
        name = operation.operation_name or "anonymous"
        fields: dict[str, object] = {"operation": name, "operation_id": operation.id}
        access_log.info("operation %s started", name, extra=fields)
        started = time.perf_counter()
        outcome = FAILED
        try:
            await super().run_operation(operation)
            outcome = ERRORED if operation.id in self._errored else COMPLETED
        except asyncio.CancelledError:
            outcome = CANCELLED
            raise
        finally:
            self._errored -= {operation.id}
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            access_log.info(
                "operation %s %s after %.1f ms",
                name,
                outcome,
                duration_ms,
                extra={**fields, "outcome": outcome, "duration_ms": duration_ms},
            )

    async def send_message(self, message: Message) -> None:
        if message["type"] == "error" or (
            message["type"] == "next" and message["payload"].get("errors")
        ):
            self._errored |= {message["id"]}
        await super().send_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._expiry is None:
            self._expiry = asyncio.create_task(self._close_at_expiry())
            self._expiry.add_done_callback(self._task_done)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and self._seconds_left() <= 0:
            await self._close_for_expiry()
            return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with suppress(asyncio.CancelledError):
                await self._expiry
        await super().shutdown()

    def _seconds_left(self) -> float:
        return self.context.credentials.seconds_left(time.time())

    async def _close_at_expiry(self) -> None:
        try:
            # The event loop sleeps on its own clock: sleep again until the wall clock agrees.
            while (left := self._seconds_left()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(left)
            await self._close_for_expiry()
        except Exception as error:  # logged, like Strawberry's own tasks
            await self.handle_task_exception(error)

    async def _close_for_expiry(self) -> None:
        if self._closed_for_expiry:
            return
        self._closed_for_expiry = True
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        await self.websocket.close(code=TOKEN_EXPIRED_CLOSE_CODE, reason=TOKEN_EXPIRED_REASON)
