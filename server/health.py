"""Liveness and readiness probes.

Ready means: the LISTEN connection is up (else followers miss changes), the task worker runs
where this process runs one (else queued tasks wait), and the database is reachable and at
the migrations' head. The in-process checks come first: a process known not to be ready
answers without a database round trip.

In production readiness says only ready or not: the reason (exception classes, migration
ids) goes to the log, where operators look, not to whoever can reach the probe.
"""

import logging
from typing import cast

from starlette.requests import Request
from starlette.responses import JSONResponse

from persistence import migrate
from server.runtime import Runtime

log = logging.getLogger(__name__)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    runtime = cast(Runtime, request.app.state.runtime)
    production = runtime.settings.is_production
    if reason := _in_process_problem(runtime):
        log.warning("not ready: %s", reason)
        return _unavailable(reason, production)
    try:
        at_head, current = await migrate.is_at_head(runtime.engine)
    except Exception as error:  # any failure means "not ready"
        log.warning("not ready: database unreachable: %r", error)
        return _unavailable(f"database unreachable: {type(error).__name__}", production)
    if not at_head:
        reason = f"migrations at {current}, head is {migrate.head_revision()}"
        log.warning("not ready: %s", reason)
        return _unavailable(reason, production)
    return JSONResponse(
        {"status": "ready"} if production else {"status": "ready", "migration": current}
    )


def _in_process_problem(runtime: Runtime) -> str | None:
    if not runtime.listener.is_listening:
        return "the LISTEN connection is down"
    if runtime.worker is not None and not runtime.worker.is_running:
        return "the task worker is not running"
    return None


def _unavailable(reason: str, production: bool) -> JSONResponse:
    body = {"status": "unavailable"} if production else {"status": "unavailable", "reason": reason}
    return JSONResponse(body, status_code=503)
