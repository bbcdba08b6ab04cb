"""Liveness and readiness probes."""

from typing import cast

from starlette.requests import Request
from starlette.responses import JSONResponse

from persistence import migrate
from server.runtime import Runtime


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    runtime = cast(Runtime, request.app.state.runtime)
    try:
        at_head, current = await migrate.is_at_head(runtime.engine)
    except Exception as error:  # any failure means "not ready"
        return JSONResponse(
            {"status": "unavailable", "reason": f"database unreachable: {type(error).__name__}"},
            status_code=503,
        )
    if not at_head:
        return JSONResponse(
            {
                "status": "unavailable",
                "reason": f"migrations at {current}, head is {migrate.head_revision()}",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "migration": current})
