"""An upload is signed in from its headers, before the server reads any of its body."""

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from server.authentication import Authenticator
from tests.integration.api import token_for
from tests.integration.studio import Studio
from tests.selfies import make_selfies

WAIT_SECONDS = 10
DECLARED_BYTES = 150 * 1024 * 1024  # far more than is ever sent
BOUNDARY = "sselfie-boundary"


def upload_head(origin: str, authorization: str | None) -> bytes:
    host = urlsplit(origin).netloc
    lines = [
        "POST /graphql HTTP/1.1",
        f"Host: {host}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        f"Content-Length: {DECLARED_BYTES}",
        "Apollo-Require-Preflight: true",
        *([f"Authorization: {authorization}"] if authorization is not None else []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def partial_body() -> bytes:
    operations = json.dumps({"query": "mutation { __typename }", "variables": {}})
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        f"{operations}\r\n--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="0"; filename="me.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    return part.encode() + bytes(64 * 1024)


async def answer_to_a_partial_upload(origin: str, authorization: str | None) -> dict[str, Any]:
    """Sends the head and a sliver of a huge upload, then only reads."""
    address = urlsplit(origin)
    assert address.hostname is not None
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(upload_head(origin, authorization) + partial_body())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_SECONDS)
        status_line, *header_lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in header_lines if line)
        body = await asyncio.wait_for(
            reader.readexactly(int(headers["content-length"])), WAIT_SECONDS
        )
    finally:
        writer.close()
    return {"status": int(status_line.split()[1]), "body": json.loads(body)}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-token",
        f"Bearer {token_for('alice', exp=int(time.time()) - 60)}",
        f"Basic {token_for('alice')}",
    ],
    ids=["none", "garbage", "expired", "not-bearer"],
)
async def test_an_upload_without_a_signed_in_user_is_refused_before_its_body(
    studio: Studio, authorization: str | None
) -> None:
    answer = await answer_to_a_partial_upload(studio.origin, authorization)

    assert answer["status"] == 401
    [error] = answer["body"]["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Sign in" in error["message"]
    assert await studio.count("users") == 0


async def test_a_signed_in_upload_verifies_its_token_once(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str | None] = []
    authenticate = Authenticator.authenticate

    async def counted(self: Authenticator, authorization: str | None) -> Any:
        calls.append(authorization)
        return await authenticate(self, authorization)

    monkeypatch.setattr(Authenticator, "authenticate", counted)

    body = await studio.start_training("alice", make_selfies(10))

    assert "errors" not in body
    assert len(calls) == 1
