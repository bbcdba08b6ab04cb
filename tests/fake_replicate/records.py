"""The fake's objects: what Replicate stores, what the fake records, and its error type."""

import asyncio
import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.responses import JSONResponse

JobKind = Literal["training", "prediction"]

TRAINER_MODEL = "ostris/flux-dev-lora-trainer"
TRAINER_VERSION = "26dce37af90b9d997eeb970d92e47de3064d46c300504ae376c75bef6a9022d2"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})
WEBHOOK_EVENTS = ("start", "output", "logs", "completed")


def new_id() -> str:
    """An id shaped like Replicate's: 26 lowercase base32 characters."""
    return base64.b32encode(secrets.token_bytes(20)).decode().lower()[:26]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class Problem(Exception):
    """An `application/problem+json` answer."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail if detail is not None else title
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        body = {"title": self.title, "detail": self.detail, "status": self.status, **self.extra}
        return JSONResponse(
            body,
            status_code=self.status,
            headers=self.headers,
            media_type="application/problem+json",
        )


@dataclass
class Version:
    id: str
    model: str
    created_at: datetime
    # A fixed schema (the trainer's); None: the trained-LoRA schema as configured now.
    fixed_schema: dict[str, Any] | None = None
    training_id: str | None = None
    # Its place in the account's creation order (lists go newest first by it).
    seq: int = 0


@dataclass
class Model:
    owner: str
    name: str
    description: str
    visibility: str
    hardware: str
    created_at: datetime
    versions: list[Version] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def to_json(self, latest_version: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "url": f"https://replicate.com/{self.full_name}",
            "owner": self.owner,
            "name": self.name,
            "description": self.description,
            "visibility": self.visibility,
            "github_url": None,
            "paper_url": None,
            "license_url": None,
            "run_count": 0,
            "cover_image_url": None,
            "default_example": None,
            "latest_version": latest_version,
        }


@dataclass
class StoredFile:
    id: str
    name: str
    content_type: str
    content: bytes
    metadata: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    etag: str
    checksums: dict[str, str]
    expired: bool = False
    # Its place in the account's creation order (lists go newest first by it).
    seq: int = 0

    def to_json(self, origin: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": len(self.content),
            "etag": self.etag,
            "checksums": self.checksums,
            "metadata": self.metadata,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "urls": {"get": f"{origin}/v1/files/{self.id}"},
        }


@dataclass
class Job:
    """A training or a prediction."""

    kind: JobKind
    id: str
    seq: int
    model: str
    version: str
    input: dict[str, Any]
    webhook: str | None
    events: frozenset[str]
    created_at: datetime
    destination: str | None = None
    status: str = "starting"
    logs: str = ""
    error: str | None = None
    output: Any = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    data_removed: bool = False
    # Training progress (the trainer's step of `total`) and auto-play ticks.
    step: int = 0
    total: int | None = None
    ticks: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def log(self, *lines: str) -> None:
        self.logs += "".join(f"{line}\n" for line in lines)

    def to_json(self, origin: str) -> dict[str, Any]:
        collection = "trainings" if self.kind == "training" else "predictions"
        url = f"{origin}/v1/{collection}/{self.id}"
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "logs": self.logs,
            "output": self.output,
            "error": self.error,
            "status": self.status,
            "source": "api",
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "metrics": self.metrics,
            "urls": {"get": url, "cancel": f"{url}/cancel"},
        }
        if self.kind == "prediction":
            body["data_removed"] = self.data_removed
        return body


@dataclass
class RecordedRequest:
    """One request the fake's HTTP API received."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int | None = None


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver a webhook."""

    event: str
    object_id: str
    url: str
    webhook_id: str
    attempt: int
    status_code: int | None
    error: str | None


@dataclass
class FailureRule:
    method: str
    path_prefix: str
    status: int
    times: int
    retry_after: float | None
    process: bool
    delay: float
    # The problem's `detail`; None: a generic one.
    detail: str | None = None


def path_matches(path: str, prefix: str) -> bool:
    """`prefix` may be given with or without the `/v1` of the API paths."""
    return path.startswith(prefix) or (
        path.startswith("/v1/") and path.removeprefix("/v1").startswith(prefix)
    )
