"""Liveness and readiness probes."""

from typing import cast

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from persistence import migrate
from server.runtime import Runtime


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    runtime = cast(Runtime, request.app.state.runtime)
    try:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        current = await migrate.current_revision(runtime.engine)
    except Exception as error:
        return JSONResponse(
            {"status": "unavailable", "reason": f"database unreachable: {type(error).__name__}"},
            status_code=503,
        )
    head = migrate.head_revision()
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "reason": f"migrations at {current}, head is {head}"},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "migration": current})
