import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.app import create_app
from settings import Settings
from tests.integration.api import Api, error_codes, token_for
from tests.integration.harness import make_settings, open_api

ME = "{ me { id model { status } } }"
JWT_ISSUER = "https://sselfie.test"
JWT_AUDIENCE = "sselfie-api"


async def count_users(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT count(*) FROM users")) or 0)


def _unsigned(payload: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


BAD_AUTHORIZATIONS = {
    "empty bearer": "Bearer ",
    "not bearer": "Basic YWxpY2U6c2VjcmV0",
    "malformed": "Bearer not-a-jwt",
    "wrong signature": "Bearer "
    + token_for("mallory", secret="another-secret-of-sufficient-length"),
    "expired": "Bearer " + token_for("alice", exp=int(time.time()) - 3600),
    "no subject": "Bearer " + token_for("", sub=None),
    "alg none": "Bearer " + _unsigned({"sub": "alice", "exp": int(time.time()) + 600}),
    "subject too long": "Bearer " + token_for("x" * 300),
}


@pytest.mark.parametrize(
    "authorization", BAD_AUTHORIZATIONS.values(), ids=BAD_AUTHORIZATIONS.keys()
)
async def test_bad_credentials_are_refused_and_touch_nothing(
    api: Api, engine: AsyncEngine, authorization: str
) -> None:
    body = await api.graphql(ME, authorization=authorization)

    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert await count_users(engine) == 0


async def test_a_rejected_token_blocks_even_introspection(api: Api) -> None:
    body = await api.graphql("{ __typename }", authorization="Bearer nonsense")

    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_without_a_token_only_introspection_is_answered(
    api: Api, engine: AsyncEngine
) -> None:
    refused = await api.graphql(ME)
    introspection = await api.graphql("{ __schema { queryType { name } } }")

    assert error_codes(refused) == ["UNAUTHENTICATED"]
    assert introspection == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert await count_users(engine) == 0


async def test_first_sign_in_provisions_the_user_once(api: Api, engine: AsyncEngine) -> None:
    first = await api.graphql(ME, token=token_for("alice"))
    second = await api.graphql(ME, token=token_for("alice"))

    assert first["data"]["me"]["id"] == second["data"]["me"]["id"]
    assert await count_users(engine) == 1


async def test_concurrent_first_requests_provision_exactly_one_user(
    settings: Settings, engine: AsyncEngine
) -> None:
    assert settings.database_url
    # Several application instances, so no in-process cache can hide a race.
    apps = [create_app(settings, settings.database_url, migrate_on_start=False) for _ in range(4)]
    apis = [open_api(app) for app in apps]
    clients = [await anext(opened) for opened in apis]
    try:
        token = token_for("bob")
        bodies = await asyncio.gather(
            *(client.graphql(ME, token=token) for client in clients for _ in range(5))
        )
    finally:
        for opened in apis:
            await opened.aclose()

    assert len({body["data"]["me"]["id"] for body in bodies}) == 1
    assert await count_users(engine) == 1


async def test_user_ids_are_short_lowercase_letters_and_digits(
    api: Api, engine: AsyncEngine
) -> None:
    await api.graphql(ME, token=token_for("carol"))

    async with engine.connect() as connection:
        user_id = await connection.scalar(text("SELECT id FROM users WHERE subject = 'carol'"))
    assert isinstance(user_id, str)
    assert len(user_id) == 10
    assert user_id.isalnum()
    assert user_id == user_id.lower()


@pytest.fixture
async def strict_api(database_url: str, data_dir: Path, engine: AsyncEngine) -> AsyncIterator[Api]:
    settings = make_settings(
        database_url, data_dir, auth_jwt_issuer=JWT_ISSUER, auth_jwt_audience=JWT_AUDIENCE
    )
    async for opened in open_api(create_app(settings, database_url, migrate_on_start=False)):
        yield opened


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"aud": JWT_AUDIENCE},
        {"iss": JWT_ISSUER},
        {"iss": "https://elsewhere.test", "aud": JWT_AUDIENCE},
        {"iss": JWT_ISSUER, "aud": "another-api"},
    ],
    ids=["neither", "no-iss", "no-aud", "other-iss", "other-aud"],
)
async def test_with_auth_jwt_issuer_and_audience_other_tokens_are_refused(
    strict_api: Api, engine: AsyncEngine, claims: dict[str, str]
) -> None:
    body = await strict_api.graphql(ME, token=token_for("alice", **claims))

    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert await count_users(engine) == 0


async def test_with_auth_jwt_issuer_and_audience_a_matching_token_signs_in(
    strict_api: Api, engine: AsyncEngine
) -> None:
    body = await strict_api.graphql(ME, token=token_for("alice", iss=JWT_ISSUER, aud=JWT_AUDIENCE))

    assert body["data"]["me"]["id"]
    assert await count_users(engine) == 1
