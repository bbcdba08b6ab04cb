"""The application served over real loopback HTTP inside the test's event loop.

Needed where something outside the test calls the server back: the fake Replicate's
webhooks, or a WebSocket client.
"""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@asynccontextmanager
async def serve(app: ASGIApp, port: int) -> AsyncIterator[str]:
    """Serves `app` on 127.0.0.1:`port` (its lifespan included); yields its origin."""
    server = _Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
        )
    )
    serving = asyncio.create_task(server.serve())
    ready = asyncio.create_task(server.ready.wait())
    try:
        await asyncio.wait(
            [serving, ready], timeout=STARTUP_TIMEOUT_SECONDS, return_when="FIRST_COMPLETED"
        )
        if not server.ready.is_set():
            raise RuntimeError("the application did not start") from (
                serving.exception() if serving.done() else None
            )
        yield f"http://127.0.0.1:{port}"
    finally:
        ready.cancel()
        server.should_exit = True
        await serving
