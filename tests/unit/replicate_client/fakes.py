"""Shared helpers of the Replicate client tests (plain functions: no conftest needed)."""

import json
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx

BASE_URL = "https://replicate.test/v1"
TOKEN = "r8_unit-test-token-do-not-leak"
VERSION_ID = "26dce37af90b9d997eeb970d92e47de3064d46c300504ae376c75bef6a9022d2"
TRAINED_VERSION_ID = "5d9a8e6c1f0b4a3e2d7c6b5a49382716f5e4d3c2b1a09f8e7d6c5b4a39281706"
TRAINER_VERSION = f"ostris/flux-dev-lora-trainer:{VERSION_ID}"


class FakeSleep:
    """Records each wait instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def training_body(**overrides: Any) -> dict[str, Any]:
    """A training object as Replicate returns it (see replicate.md)."""
    body: dict[str, Any] = {
        "id": "zz4ibbonubfz7carwiefibzgga",
        "model": "ostris/flux-dev-lora-trainer",
        "version": VERSION_ID,
        "input": {"input_images": "https://api.replicate.com/v1/files/abc", "steps": 1000},
        "logs": "flux_train_replicate:  83%|████████▎ | 830/1000 [13:27<02:44,  1.05s/it]",
        "error": None,
        "output": None,
        "metrics": {},
        "status": "processing",
        "created_at": "2026-11-25T10:00:00.123456Z",
        "started_at": "2026-11-25T10:00:04.5Z",
        "completed_at": None,
        "urls": {
            "get": "https://api.replicate.com/v1/trainings/zz4ibbonubfz7carwiefibzgga",
            "cancel": "https://api.replicate.com/v1/trainings/zz4ibbonubfz7carwiefibzgga/cancel",
        },
    }
    body.update(overrides)
    return body


def prediction_body(**overrides: Any) -> dict[str, Any]:
    """A prediction object as Replicate returns it (see replicate.md)."""
    body: dict[str, Any] = {
        "id": "gm3qorzdhgbfurvjtvhg6dckhu",
        "model": "sselfie/user-1-selfie-lora",
        "version": TRAINED_VERSION_ID,
        "input": {"prompt": "TOK in a field", "num_outputs": 2},
        "logs": "Using seed: 42\n",
        "error": None,
        "output": [
            "https://replicate.delivery/xezq/abc/out-0.webp",
            "https://replicate.delivery/xezq/abc/out-1.webp",
        ],
        "status": "succeeded",
        "created_at": "2026-11-25T11:00:00.000001Z",
        "started_at": "2026-11-25T11:00:01.25Z",
        "completed_at": "2026-11-25T11:00:09.999Z",
        "urls": {
            "get": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu",
            "cancel": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu/cancel",
        },
    }
    body.update(overrides)
    return body


def problem(status: int, detail: str, title: str = "Error") -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps({"title": title, "detail": detail, "status": status}),
        headers={"Content-Type": "application/problem+json"},
    )


def json_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def multipart_parts(request: httpx.Request) -> dict[str, Message]:
    """The multipart/form-data parts of a request, by field name."""
    content_type = request.headers["Content-Type"].encode()
    raw = b"Content-Type: " + content_type + b"\r\n\r\n" + request.content
    message = BytesParser(policy=HTTP).parsebytes(raw)
    parts: dict[str, Message] = {}
    for part in message.walk():
        if not part.is_multipart():
            parts[str(part.get_param("name", header="content-disposition"))] = part
    return parts


def payload_of(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload
