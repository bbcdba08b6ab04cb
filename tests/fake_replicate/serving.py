"""An ASGI app served by uvicorn on loopback, as a task of the running event loop."""

import asyncio
import contextlib
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT_SECONDS = 10.0


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leaves the test process's signal handlers alone."""
        yield


class LoopbackServer:
    """`async with LoopbackServer(app) as server:` serves `app` at `server.origin`."""

    def __init__(self, app: ASGIApp, port: int = 0) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
        )
        self._server = _InLoopServer(config)
        self._task: asyncio.Task[None] | None = None
        self.port = port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._serve())
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn stopped before it started")
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start")
            await asyncio.sleep(0.001)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None

    async def __aenter__(self) -> "LoopbackServer":
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _serve(self) -> None:
        try:
            await self._server.serve()
        except SystemExit as exc:  # uvicorn exits when it cannot bind
            raise RuntimeError(f"uvicorn could not serve on port {self.port}") from exc
