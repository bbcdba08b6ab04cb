"""CORS for web apps on other origins: `/graphql` and `/images/...` only, exact origins only."""

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.exceptions import InvalidStatus

from server.app import create_app
from settings import Settings
from tests.integration.api import Api, token_for
from tests.integration.harness import make_settings, open_api
from tests.integration.served import free_port, serve

APP_ORIGIN = "http://localhost:5173"
OTHER_ORIGIN = "https://evil.example"
APOLLO_HEADERS = (
    "authorization, content-type, apollo-require-preflight, x-apollo-operation-name, "
    "apollographql-client-name, apollographql-client-version"
)


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    return make_settings(
        database_url, data_dir, cors_allowed_origins_text=f"{APP_ORIGIN},https://app.example.com"
    )


async def preflight(api: Api, path: str, origin: str, method: str = "POST") -> httpx.Response:
    return await api.client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": APOLLO_HEADERS,
        },
    )


async def test_a_preflight_from_an_allowed_origin_allows_what_apollo_sends(api: Api) -> None:
    response = await preflight(api, "/graphql", APP_ORIGIN)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {h.strip() for h in APOLLO_HEADERS.split(",")} <= {h.lower() for h in allowed}
    assert {"GET", "POST"} <= set(response.headers["access-control-allow-methods"].split(", "))
    assert int(response.headers["access-control-max-age"]) > 0
    assert "access-control-allow-credentials" not in response.headers


async def test_a_response_to_an_allowed_origin_exposes_its_request_id(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "{ me { id } }"},
        headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {token_for('alice')}"},
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"retry-after", "x-request-id"} <= exposed
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("origin", [OTHER_ORIGIN, "http://localhost:5174", "null"])
async def test_a_disallowed_origin_gets_no_cors_headers(api: Api, origin: str) -> None:
    refused = await preflight(api, "/graphql", origin)
    answered = await api.client.post(
        "/graphql",
        json={"query": "{ me { id } }"},
        headers={"Origin": origin, "Authorization": f"Bearer {token_for('alice')}"},
    )

    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in answered.headers


async def test_images_are_covered_and_webhooks_and_probes_are_not(api: Api) -> None:
    image = await api.client.get(
        "/images/00000000-0000-0000-0000-000000000000", headers={"Origin": APP_ORIGIN}
    )
    image_preflight = await preflight(api, "/images/anything", APP_ORIGIN, method="GET")
    webhook_preflight = await preflight(api, "/webhooks/replicate", APP_ORIGIN)
    webhook = await api.client.post(
        "/webhooks/replicate", content=b"{}", headers={"Origin": APP_ORIGIN}
    )
    health = await api.client.get("/healthz", headers={"Origin": APP_ORIGIN})

    assert image.status_code == 403  # unsigned, but a browser may read that it was refused
    assert image.headers["access-control-allow-origin"] == APP_ORIGIN
    assert image_preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    for response in (webhook_preflight, webhook, health):
        assert "access-control-allow-origin" not in response.headers


async def test_refusals_before_graphql_still_carry_cors_headers(api: Api) -> None:
    """A browser app can read why its upload was refused (CSRF rule, here)."""
    response = await api.client.post(
        "/graphql",
        data={"operations": json.dumps({"query": "{ me { id } }"}), "map": "{}"},
        files={"0": ("a.txt", b"x", "text/plain")},
        headers={"Origin": APP_ORIGIN},
    )

    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_without_allowed_origins_no_origin_is_allowed(
    database_url: str, data_dir: Path, engine: AsyncEngine
) -> None:
    app = create_app(make_settings(database_url, data_dir), database_url, migrate_on_start=False)
    async for api in open_api(app):
        response = await preflight(api, "/graphql", APP_ORIGIN)

        assert "access-control-allow-origin" not in response.headers


@pytest.fixture
async def served(settings: Settings, engine: AsyncEngine) -> AsyncIterator[str]:
    assert settings.database_url
    port = free_port()
    app = create_app(settings, settings.database_url, migrate_on_start=False)
    async with serve(app, port):
        yield f"ws://127.0.0.1:{port}/graphql"


async def test_a_websocket_from_a_disallowed_origin_is_refused_before_the_upgrade(
    served: str,
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            served,
            origin=websockets.Origin(OTHER_ORIGIN),
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        ):
            pass

    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", [APP_ORIGIN, None])
async def test_a_websocket_from_an_allowed_origin_or_no_browser_connects(
    served: str, origin: str | None
) -> None:
    async with websockets.connect(
        served,
        origin=websockets.Origin(origin) if origin else None,
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
    ) as connection:
        await connection.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"authorization": f"Bearer {token_for('alice')}"},
                }
            )
        )
        assert json.loads(await connection.recv())["type"] == "connection_ack"
