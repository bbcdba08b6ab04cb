"""graphql-transport-ws where a connection lives no longer than the token it signed in with."""

import asyncio
import time
from contextlib import suppress

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from request_context.context import RequestContext

TOKEN_EXPIRED_CLOSE_CODE = 4401
TOKEN_EXPIRED_REASON = "Unauthorized: the token has expired"  # noqa: S105 (a message)


class SignedInTransportWSHandler(BaseGraphQLTransportWSHandler[RequestContext, None]):
    """Closes the socket with 4401 when the connection_init token expires (running
    operations are cancelled first), and never starts an operation after that."""

    _expiry: asyncio.Task[None] | None = None
    _closed_for_expiry = False

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
