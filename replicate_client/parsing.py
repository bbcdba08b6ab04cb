"""Replicate's JSON objects (trainings, predictions, files, versions) into the domain's
dataclasses.

Tolerant of missing or null fields; strict only about what the domain cannot do
without: an `id`, and a known `status` for a training or a prediction. Error texts are
cut to a bounded length here, the one place upstream reports enter the domain.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from domain.upstream import (
    UpstreamFile,
    UpstreamPrediction,
    UpstreamStatus,
    UpstreamTraining,
    bounded_error,
)


def training_from_json(body: Mapping[str, Any]) -> UpstreamTraining:
    """A training object (as GET /v1/trainings/{id} or its webhook returns it).

    Raises ValueError when the body has no `id` or an unknown `status`.
    """
    output = body.get("output")
    given = _mapping(body.get("input"))
    return UpstreamTraining(
        id=_required_id(body),
        status=_status(body),
        logs=_text(body.get("logs")),
        error=_error(body.get("error")),
        output_version=_output_version(output),
        trigger_word=_string(given.get("trigger_word")),
        images_url=_string(given.get("input_images")),
        webhook=_string(body.get("webhook")),
        created_at=_timestamp(body.get("created_at")),
        started_at=_timestamp(body.get("started_at")),
        completed_at=_timestamp(body.get("completed_at")),
    )


def prediction_from_json(body: Mapping[str, Any]) -> UpstreamPrediction:
    """A prediction object (as GET /v1/predictions/{id} or its webhook returns it).

    Raises ValueError when the body has no `id` or an unknown `status`.
    """
    given = _mapping(body.get("input"))
    seed = given.get("seed")
    return UpstreamPrediction(
        id=_required_id(body),
        status=_status(body),
        output=_output_urls(body.get("output")),
        logs=_text(body.get("logs")),
        error=_error(body.get("error")),
        version=_bare_version(body.get("version")),
        prompt=_string(given.get("prompt")),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        webhook=_string(body.get("webhook")),
        created_at=_timestamp(body.get("created_at")),
        started_at=_timestamp(body.get("started_at")),
        completed_at=_timestamp(body.get("completed_at")),
    )


def file_from_json(body: Mapping[str, Any]) -> UpstreamFile:
    """A file object (as GET /v1/files lists it); raises ValueError when it has no `id`."""
    return UpstreamFile(
        id=_required_id(body),
        name=_string(body.get("name")) or "",
        created_at=_timestamp(body.get("created_at")),
    )


def version_id_from_json(body: Mapping[str, Any]) -> str:
    """A model version's id (as GET /v1/models/{owner}/{name}/versions lists it); raises
    ValueError when it has none."""
    return _required_id(body)


def _required_id(body: Mapping[str, Any]) -> str:
    value = body.get("id")
    if not isinstance(value, str) or not value:
        raise ValueError("Replicate object without an id")
    return value


def _status(body: Mapping[str, Any]) -> UpstreamStatus:
    value = body.get("status")
    if not isinstance(value, str):
        raise ValueError(f"Replicate object with an unknown status: {value!r}")
    try:
        return UpstreamStatus(value)
    except ValueError:
        raise ValueError(f"Replicate object with an unknown status: {value!r}") from None


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _error(value: object) -> str | None:
    if value is None or value == "":
        return None
    return bounded_error(value if isinstance(value, str) else str(value))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _bare_version(value: object) -> str | None:
    """A version id, with any "owner/name:" before it dropped."""
    text = _string(value) or ""
    return text.rpartition(":")[2] or None


def _output_version(output: object) -> str | None:
    if not isinstance(output, Mapping):
        return None
    version = output.get("version")
    return version if isinstance(version, str) and version else None


def _output_urls(output: object) -> list[str]:
    if isinstance(output, str):
        return [output] if output else []
    if isinstance(output, list):
        return [item for item in output if isinstance(item, str) and item]
    return []


def _timestamp(value: object) -> datetime | None:
    """An ISO 8601 timestamp ("2026-11-25T10:00:00.123456Z"), always timezone-aware."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
