"""A queued task runs in the context of the request that queued it.

Its log lines carry that request's id (from the job's headers), the task's name and job
id; it runs in a span continuing the request's trace (when tracing is on; a no-op
otherwise); and a line says how it ended and how long it took.
"""

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps

import structlog
from opentelemetry import propagate, trace
from pgqueuer.models import Job

from persistence.task_queue import REQUEST_ID_HEADER
from server.logging_setup import TASKS_LOGGER
from server.request_ids import REQUEST_ID_FIELD

TaskHandler = Callable[[Job], Awaitable[None]]

task_log = logging.getLogger(TASKS_LOGGER)
tracer = trace.get_tracer("sselfie.worker")


def in_task_context(name: str, handler: TaskHandler, *, quiet: bool = False) -> TaskHandler:
    """`handler` in its job's context; `quiet` logs its successful runs at DEBUG (the
    periodic tasks, which run every few seconds)."""

    @wraps(handler)
    async def run(job: Job) -> None:
        headers = _text_headers(job.headers)
        fields: dict[str, object] = {"task": name, "job_id": int(job.id)}
        if (request_id := headers.get(REQUEST_ID_HEADER)) is not None:
            fields[REQUEST_ID_FIELD] = request_id
        with (
            structlog.contextvars.bound_contextvars(**fields),
            tracer.start_as_current_span(
                f"task {name}",
                context=propagate.extract(headers),
                kind=trace.SpanKind.CONSUMER,
                attributes={"messaging.system": "pgqueuer", "messaging.message.id": str(job.id)},
            ),
        ):
            started = time.perf_counter()
            try:
                await handler(job)
            except BaseException as error:
                _log_end(name, started, logging.WARNING, f"failed ({type(error).__name__})")
                raise
            _log_end(name, started, logging.DEBUG if quiet else logging.INFO, "done")

    return run


def _text_headers(headers: Mapping[str, object] | None) -> dict[str, str]:
    return {key: value for key, value in (headers or {}).items() if isinstance(value, str)}


def _log_end(name: str, started: float, level: int, outcome: str) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    task_log.log(
        level,
        "task %s %s in %.1f ms",
        name,
        outcome,
        duration_ms,
        extra={"outcome": outcome.split(" ")[0], "duration_ms": duration_ms},
    )
