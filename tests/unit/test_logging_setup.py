"""Log lines: JSON or console, the context's fields on every line, secrets redacted."""

import json
import logging

import pytest
import structlog
from pydantic import ValidationError

from server.logging_setup import REDACTED, redact_text
from server.request_ids import is_well_formed
from settings import Environment, load_settings
from settings.config import LogFormat
from tests.logs import captured_logs

JWT = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMH0."
    "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
)

log = logging.getLogger("tests.unit.logging")


def test_json_lines_carry_timestamp_level_event_logger_and_the_call_fields() -> None:
    with captured_logs(LogFormat.JSON) as logs:
        log.info("stored %d images", 3, extra={"generation_id": "g1"})

    [line] = [json.loads(text) for text in logs.text.splitlines()]
    assert line["event"] == "stored 3 images"
    assert line["level"] == "info"
    assert line["logger"] == "tests.unit.logging"
    assert line["timestamp"].endswith("Z")
    assert line["generation_id"] == "g1"


def test_the_context_bound_fields_are_on_every_line_until_unbound() -> None:
    with captured_logs() as logs:
        with structlog.contextvars.bound_contextvars(request_id="r-1", user_id="u7"):
            log.warning("inside")
            structlog.get_logger("tests.structlog").info("native", answer=42)
        log.warning("outside")

    inside, native, outside = logs.lines()
    assert (inside["request_id"], inside["user_id"]) == ("r-1", "u7")
    assert (native["event"], native["answer"], native["request_id"]) == ("native", 42, "r-1")
    assert native["logger"] == "tests.structlog"
    assert "request_id" not in outside


def test_console_lines_are_for_people() -> None:
    with captured_logs(LogFormat.CONSOLE) as logs:
        log.warning("the store is slow", extra={"duration_ms": 812.5})

    line = logs.text.strip()
    assert "the store is slow" in line
    assert "warning" in line
    assert "duration_ms=812.5" in line
    assert "\x1b[" not in line  # no colours when not writing to a terminal
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_the_level_drops_what_is_below_it() -> None:
    with captured_logs(level="WARNING") as logs:
        log.info("chatter")
        log.warning("worth reading")

    assert [line["event"] for line in logs.lines()] == ["worth reading"]


def test_an_exception_is_rendered_into_the_line() -> None:
    with captured_logs() as logs:
        try:
            raise RuntimeError("broken")
        except RuntimeError:
            log.exception("it failed")

    [line] = logs.lines()
    assert "RuntimeError: broken" in line["exception"]


def test_bearer_tokens_jwts_and_secret_fields_are_redacted_from_every_line() -> None:
    with captured_logs() as logs:
        log.info("rejected Authorization: Bearer %s", JWT)
        log.info("a token in passing: %s", JWT, extra={"authorization": "Basic abc"})
        log.info("fetched", extra={"url": "https://x.test/images/1?expires=9&signature=abc"})
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            log.exception("failed")

    assert JWT not in logs.text
    first, second, third, fourth = logs.lines()
    assert first["event"] == f"rejected Authorization: Bearer {REDACTED}"
    assert second["event"] == f"a token in passing: {REDACTED}"
    assert second["authorization"] == REDACTED
    assert third["url"] == f"https://x.test/images/1?expires=9&signature={REDACTED}"
    assert REDACTED in fourth["exception"]


def test_redaction_leaves_ordinary_text_alone() -> None:
    text = "Sign in: send `Authorization: Bearer <token>` with a valid token (eyJ only)."
    assert redact_text(text) == text
    assert redact_text("Bearer abc.def-ghi") == f"Bearer {REDACTED}"


def test_standard_library_records_keep_their_own_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with captured_logs(), caplog.at_level(logging.INFO):
        log.info("deleted %d stored objects under %s", 2, "u/g")

    assert caplog.records[-1].getMessage() == "deleted 2 stored objects under u/g"


def test_the_format_is_json_in_production_and_console_elsewhere() -> None:
    assert load_settings(env=Environment.PRODUCTION).log_format is LogFormat.JSON
    assert load_settings(env=Environment.DEVELOPMENT).log_format is LogFormat.CONSOLE
    chosen = load_settings(env=Environment.PRODUCTION, log_format_choice="Console")
    assert chosen.log_format is LogFormat.CONSOLE


def test_log_level_is_a_level_name_in_any_case() -> None:
    assert load_settings(log_level="debug").log_level == "DEBUG"
    assert load_settings().log_level == "INFO"
    with pytest.raises(ValidationError, match="LOG_LEVEL"):
        load_settings(log_level="loud")
    with pytest.raises(ValidationError):
        load_settings(log_format_choice="xml")


@pytest.mark.parametrize(
    ("request_id", "kept"),
    [
        ("abc", True),
        ("0f3a9c2e-7d1b-4c8e-9a6f-2b5d8e1c4a7f", True),
        ("trace:span.1_2", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("has space", False),
        ("semi;colon", False),
        ("é", False),
    ],
)
def test_a_request_id_is_1_to_128_safe_characters(request_id: str, kept: bool) -> None:
    assert is_well_formed(request_id) is kept


def test_uvicorns_lines_are_ours_but_its_access_log_is_off() -> None:
    with captured_logs() as logs:
        logging.getLogger("uvicorn.error").info("Uvicorn running on http://127.0.0.1:1")
        access_log_on = logging.getLogger("uvicorn.access").hasHandlers()

    [line] = logs.lines()
    assert (line["logger"], line["event"]) == (
        "uvicorn.error",
        "Uvicorn running on http://127.0.0.1:1",
    )
    assert access_log_on is False  # uvicorn writes its access lines only to a handler
