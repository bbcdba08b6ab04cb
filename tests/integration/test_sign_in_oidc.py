"""Sign-in through an OIDC issuer served on loopback: keys from its discovery and JWKS."""

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.app import create_app
from tests.integration.api import Api, error_codes
from tests.integration.harness import make_settings, open_api
from tests.integration.served import free_port, serve

AUDIENCE = "sselfie-api"
ME = "{ me { id } }"


class Issuer:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.origin = ""
        self.requests: list[str] = []

    def app(self) -> Starlette:
        async def discovery(request: Request) -> JSONResponse:
            self.requests.append(request.url.path)
            return JSONResponse({"issuer": self.origin, "jwks_uri": f"{self.origin}/jwks"})

        async def jwks(request: Request) -> JSONResponse:
            self.requests.append(request.url.path)
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
            ]
        )

    def token(self, *, key: Any = None, header: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"sub": "olivia", "iss": self.origin, "aud": AUDIENCE, "exp": now + 600, **claims}
        return jwt.encode(header or {"alg": "RS256", "kid": "k1"}, payload, key or self.key)


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    issuer = Issuer()
    port = free_port()
    issuer.origin = f"http://127.0.0.1:{port}"
    async with serve(issuer.app(), port):
        yield issuer


@pytest.fixture
async def oidc_api(
    database_url: str, data_dir: Path, engine: AsyncEngine, issuer: Issuer
) -> AsyncIterator[Api]:
    settings = make_settings(
        database_url,
        data_dir,
        auth_jwt_secret=None,
        oidc_issuer=issuer.origin,
        oidc_audience=AUDIENCE,
    )
    async for api in open_api(create_app(settings, database_url, migrate_on_start=False)):
        yield api


async def test_a_token_from_the_issuer_signs_in(oidc_api: Api, issuer: Issuer) -> None:
    body = await oidc_api.graphql(ME, token=issuer.token())

    assert body["data"]["me"]["id"]
    assert issuer.requests == ["/.well-known/openid-configuration", "/jwks"]


def _bad_tokens(issuer: Issuer) -> dict[str, str]:
    other_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    return {
        "hs256": issuer.token(
            key=OctKey.import_key("a-shared-secret-that-is-long-enough!!"),
            header={"alg": "HS256", "kid": "k1"},
        ),
        "unknown kid": issuer.token(header={"alg": "RS256", "kid": "k9"}),
        "wrong signature": issuer.token(key=other_key),
        "wrong issuer": issuer.token(iss="https://elsewhere.test"),
        "wrong audience": issuer.token(aud="another-api"),
        "expired": issuer.token(exp=int(time.time()) - 3600),
    }


async def test_every_bad_token_is_refused_and_provisions_no_one(
    oidc_api: Api, issuer: Issuer, engine: AsyncEngine
) -> None:
    for name, token in _bad_tokens(issuer).items():
        body = await oidc_api.graphql(ME, token=token)
        assert error_codes(body) == ["UNAUTHENTICATED"], name

    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM users")) == 0
