"""The log format of every `sselfie` process, `sselfie serve --workers N`'s children included.

structlog renders every line, whether it was logged with `logging.getLogger(__name__)` (as
every module does) or with structlog: JSON objects a line (`LOG_FORMAT=json`, the default
in production) or aligned console lines. A line carries the fields bound in the current
context (`request_id`, `user_id`, a task's name and job id) and the `extra=` fields of its
call. Bearer tokens, JWTs, secret-named fields and signatures in URLs are redacted from
every line, whatever logged them.
"""

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from settings import Settings
from settings.config import LogFormat

# Loggers of our own lines, each of which can be quietened on its own (as uvicorn's access
# log can): a line per HTTP request and WebSocket operation, and a line per task run. (The
# Replicate client logs a line per upstream call as `sselfie.upstream`.)
ACCESS_LOGGER = "sselfie.access"
TASKS_LOGGER = "sselfie.tasks"

REDACTED = "[redacted]"
# Fields whose value is a secret whatever it looks like.
SECRET_FIELDS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "password",
        "secret",
        "client_secret",
        "api_key",
        "api_token",
        "signature",
        "replicate_api_token",
        "replicate_webhook_secret",
        "auth_jwt_secret",
        "aws_secret_access_key",
        "aws_session_token",
        "metrics_token",
    }
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SECRET_QUERY_VALUE = re.compile(
    r"(?i)([?&](?:token|signature|x-amz-signature|x-amz-credential|x-amz-security-token)=)"
    r"[^&#\s\"']+"
)
# What a formatter other than ours may have left on a record, and uvicorn's colored copy
# of its message: never fields of the line.
_NOT_FIELDS = ("color_message", "message", "asctime")
# Their lines would repeat our upstream and access lines, full URLs included (but at DEBUG).
_QUIETENED = ("httpx", "httpcore")
_HANDLER_NAME = "sselfie"


def configure_logging(settings: Settings | None = None, *, stream: TextIO | None = None) -> None:
    """Sends every line through structlog to `stream` (stderr), at LOG_LEVEL, in LOG_FORMAT.

    Without settings (they could not be read): INFO, console lines. Where logging was
    configured already (a handler not ours on the root logger: a test runner's, say), it
    is left alone, as `logging.basicConfig` does, unless a `stream` is given.
    """
    root = logging.getLogger()
    if stream is None and any(found.get_name() != _HANDLER_NAME for found in root.handlers):
        return
    level = settings.log_level if settings else "INFO"
    log_format = settings.log_format if settings else LogFormat.CONSOLE
    output = stream if stream is not None else sys.stderr
    _configure_structlog()
    handler = logging.StreamHandler(output)
    handler.setFormatter(_formatter(log_format, output))
    handler.set_name(_HANDLER_NAME)
    # Ours replaced, anyone else's (a test's capture) kept.
    for previous in [found for found in root.handlers if found.get_name() == _HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
    _route_uvicorns_loggers()
    for name in _QUIETENED:
        quiet = root.level > logging.DEBUG
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)


def _configure_structlog() -> None:
    """structlog's own loggers hand their lines to the standard library's handler."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _route_uvicorns_loggers() -> None:
    for name in ("uvicorn", "uvicorn.error"):  # at LOG_LEVEL, through our handler
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.setLevel(logging.NOTSET)
        uvicorn_logger.propagate = True
    # Ours replaces uvicorn's access log, which would show query strings (signed URLs'):
    # uvicorn writes none while this logger has no handler, its own or its ancestors'.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _formatter(log_format: LogFormat, output: TextIO) -> structlog.stdlib.ProcessorFormatter:
    renderer: Processor
    if log_format is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=_is_terminal(output), exception_formatter=structlog.dev.plain_traceback
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *_shared_processors(),
            structlog.stdlib.ExtraAdder(),
            _drop_non_fields,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )


def _is_terminal(output: TextIO) -> bool:
    isatty = getattr(output, "isatty", None)
    return bool(isatty and isatty())


def _drop_non_fields(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    for name in _NOT_FIELDS:
        event_dict.pop(name, None)
    return event_dict


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Replaces secrets in every field: secret-named ones whole, and in any text a bearer
    token, a JWT, or the value of a token or signature query parameter."""
    return {key: _redacted(key, value) for key, value in event_dict.items()}


def _redacted(key: object, value: Any) -> Any:
    if isinstance(key, str) and key.lower() in SECRET_FIELDS and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {inner: _redacted(inner, item) for inner, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(None, item) for item in value]
    return value


def redact_text(text: str) -> str:
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    return _SECRET_QUERY_VALUE.sub(rf"\1{REDACTED}", text)
