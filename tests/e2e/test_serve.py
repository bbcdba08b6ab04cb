"""The real server process, as `make run` starts it, driven over HTTP and WebSocket."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.e2e.server_process import ServerProcess, run_sselfie, sselfie_env, sselfie_server

WS_PROTOCOL = "graphql-transport-ws"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = sselfie_env(tmp_path_factory.mktemp("data"), DATABASE_URL=database_url)
    with sselfie_server(env) as running:
        yield running


def _token(server: ServerProcess, subject: str) -> str:
    printed = run_sselfie("token", subject, env=server.env)
    assert printed.returncode == 0, printed.stderr
    return printed.stdout.strip()


def test_a_printed_token_signs_in_and_me_has_no_model(server: ServerProcess) -> None:
    token = _token(server, "alice")

    response = httpx.post(
        f"{server.base_url}/graphql",
        json={"query": "{ me { id model { status } } }"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200
    assert response.json()["data"]["me"]["model"] is None
    assert response.json()["data"]["me"]["id"]
    assert any("development signing secret" in line for line in server.output)


def test_graphiql_loads(server: ServerProcess) -> None:
    page = httpx.get(f"{server.base_url}/graphql", headers={"Accept": "text/html"})

    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


async def test_a_websocket_signs_in_with_its_connection_init_payload(
    server: ServerProcess,
) -> None:
    token = _token(server, "alice")
    async with websockets.connect(server.ws_url, subprotocols=[WS_PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"AUTHORIZATION": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ me { id } }"}})
        )
        message = json.loads(await ws.recv())

    assert message["type"] == "next"
    assert message["payload"]["data"]["me"]["id"]


@pytest.mark.parametrize("payload", [{}, {"authorization": "Bearer forged.token.value"}])
async def test_a_websocket_without_valid_credentials_is_closed(
    server: ServerProcess, payload: dict[str, str]
) -> None:
    async with websockets.connect(server.ws_url, subprotocols=[WS_PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


SERVE = ("serve", "--port", "0")
PUBLIC_BASE_URL = "https://api.example.com"
PRODUCTION_SECRET = "a-production-secret-of-at-least-32-characters"


def refused_in_production(tmp_path: Path, command: tuple[str, ...], **env: str) -> str:
    """Runs `command` with SSELFIE_ENV=production and `env`: it exits 2. Its stderr."""
    result = run_sselfie(*command, env=sselfie_env(tmp_path, SSELFIE_ENV="production", **env))
    assert result.returncode == 2
    return result.stderr


def test_production_refuses_to_start_without_a_sign_in_mode(
    database_url: str, tmp_path: Path
) -> None:
    stderr = refused_in_production(
        tmp_path, SERVE, DATABASE_URL=database_url, PUBLIC_BASE_URL=PUBLIC_BASE_URL
    )

    assert "AUTH_JWT_SECRET" in stderr
    assert not (tmp_path / "jwt-secret").exists()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({}, "PUBLIC_BASE_URL"),
        (
            {"PUBLIC_BASE_URL": PUBLIC_BASE_URL, "CORS_ALLOWED_ORIGINS": "*"},
            "CORS_ALLOWED_ORIGINS",
        ),
        (
            {
                "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                "CORS_ALLOWED_ORIGINS": "https://app.example.com/",
            },
            "CORS_ALLOWED_ORIGINS",
        ),
    ],
)
def test_production_refuses_to_start_with_unfit_browser_settings(
    database_url: str, tmp_path: Path, extra: dict[str, str], named: str
) -> None:
    stderr = refused_in_production(
        tmp_path, SERVE, DATABASE_URL=database_url, AUTH_JWT_SECRET=PRODUCTION_SECRET, **extra
    )

    assert named in stderr
    assert "Uvicorn running" not in stderr


@pytest.mark.parametrize("command", [SERVE, ("migrate",)])
def test_production_never_runs_on_the_embedded_database(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    stderr = refused_in_production(
        tmp_path, command, PUBLIC_BASE_URL=PUBLIC_BASE_URL, AUTH_JWT_SECRET=PRODUCTION_SECRET
    )

    assert "DATABASE_URL" in stderr
    assert not (tmp_path / "postgres").exists()


def test_production_with_an_oidc_issuer_needs_its_audience(
    database_url: str, tmp_path: Path
) -> None:
    stderr = refused_in_production(
        tmp_path,
        SERVE,
        DATABASE_URL=database_url,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        OIDC_ISSUER="https://issuer.example.com",
    )

    assert "OIDC_AUDIENCE" in stderr
    assert "Uvicorn running" not in stderr


async def _open_legacy_connection(url: str) -> None:
    async with websockets.connect(url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        await ws.recv()


async def test_the_legacy_graphql_ws_protocol_is_refused(server: ServerProcess) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        await _open_legacy_connection(server.ws_url)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406  # subprotocol not acceptable
