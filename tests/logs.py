"""The process's log lines as `sselfie` writes them, captured for a test."""

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from server.logging_setup import configure_logging
from settings import load_settings
from settings.config import LogFormat

_TOUCHED_LOGGERS = ("httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access")


@dataclass(frozen=True)
class CapturedLogs:
    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line so far, parsed (the JSON format)."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def where(self, **fields: Any) -> list[dict[str, Any]]:
        """The parsed lines having all of `fields`."""
        return [
            line
            for line in self.lines()
            if all(line.get(name) == value for name, value in fields.items())
        ]


@contextmanager
def captured_logs(
    log_format: LogFormat = LogFormat.JSON, level: str = "INFO"
) -> Iterator[CapturedLogs]:
    """Logging as `sselfie` configures it, into a buffer; as it was before, after.

    Every logger is enabled, as in a `sselfie` process: a `logging.config` call made in
    this one (import-linter's, by a test) disables the loggers that existed then.
    """
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            logger.disabled = False
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved = {name: _state(logging.getLogger(name)) for name in _TOUCHED_LOGGERS}
    stream = io.StringIO()
    configure_logging(load_settings(log_level=level, log_format_choice=log_format), stream=stream)
    try:
        yield CapturedLogs(stream)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, (level_of, handlers, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level_of)
            logger.handlers[:] = handlers
            logger.propagate = propagate
        structlog.reset_defaults()


def _state(logger: logging.Logger) -> tuple[int, list[logging.Handler], bool]:
    return logger.level, list(logger.handlers), logger.propagate
