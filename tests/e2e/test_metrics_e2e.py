"""Metrics of the real `sselfie` processes: summed over `--workers N`, and on METRICS_PORT."""

import asyncio
import socket
from pathlib import Path

import httpx

from tests.e2e.server_process import (
    free_port,
    run_sselfie,
    sselfie_env,
    sselfie_server,
    sselfie_worker,
)
from tests.e2e.test_web_workers_e2e import holder, serving, serving_processes
from tests.scraped_metrics import METRICS_TOKEN, Scrape, parse, scrape

# Requests sent, at most, until each process has answered some: the kernel hands each
# new connection to one of the processes accepting on the shared socket.
MAX_REQUESTS = 60
HEALTHZ = {"route": "/healthz", "method": "GET", "status": "200"}


async def healthz_on_a_new_connection(base_url: str, processes: list[int]) -> int:
    """GET /healthz on a connection of its own; the pid of the process that answered."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        # Answered, and still open (kept alive): held by the process that answered.
        return holder(processes, writer.get_extra_info("sockname"))
    finally:
        writer.close()
        await writer.wait_closed()


def metrics_directories(temporary: Path) -> list[str]:
    return [path.name for path in temporary.iterdir() if path.name.startswith("sselfie-metrics-")]


async def metrics_port(port: int) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as client:
        return await scrape(client, f"http://127.0.0.1:{port}/metrics", token=None)


async def test_counts_of_every_worker_add_up(database_url: str, tmp_path: Path) -> None:
    port_for_metrics = free_port()
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = sselfie_env(
        tmp_path,
        DATABASE_URL=database_url,
        METRICS_TOKEN=METRICS_TOKEN,
        METRICS_PORT=str(port_for_metrics),
        TMPDIR=str(temporary),
    )

    with serving(env, "--workers", "2", processes=2) as server:
        processes = serving_processes(server)
        shared_while_serving = metrics_directories(temporary)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            before = await scrape(client, "/metrics")
            answered: dict[int, int] = {}
            while len(answered) < len(processes) and sum(answered.values()) < MAX_REQUESTS:
                pid = await healthz_on_a_new_connection(server.base_url, processes)
                answered[pid] = answered.get(pid, 0) + 1
            public = [await scrape(client, "/metrics") for _ in range(4)]
        private = await metrics_port(port_for_metrics)

    sent = sum(answered.values())
    assert set(answered) == set(processes)
    assert len(processes) == 2
    # Whichever process answers a scrape, it counts what every process answered.
    counted = [scraped.value("sselfie_http_requests_total", **HEALTHZ) for scraped in public]
    assert [
        count - before.value("sselfie_http_requests_total", **HEALTHZ) for count in counted
    ] == [sent] * len(public)
    assert private.value("sselfie_http_requests_total", **HEALTHZ) == counted[-1]
    assert private.value("sselfie_metrics_database_up") == 1
    # The processes kept their values in a directory of the run's own, removed after it.
    assert len(shared_while_serving) == 1
    assert metrics_directories(temporary) == []


async def test_metrics_port_serves_without_a_token_and_the_public_port_does_not(
    database_url: str, tmp_path: Path
) -> None:
    port_for_metrics = free_port()
    env = sselfie_env(tmp_path, DATABASE_URL=database_url, METRICS_PORT=str(port_for_metrics))

    with sselfie_server(env) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            ready = await client.get("/readyz")
            public = await client.get(
                "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
        private = await metrics_port(port_for_metrics)

    assert ready.status_code == 200
    assert public.status_code == 404
    assert private.value("sselfie_http_requests_total", route="/readyz", status="200") == 1
    assert private.value("sselfie_metrics_database_up") == 1
    assert "sselfie_trainings" in private.text


async def test_a_worker_serves_its_metrics_on_metrics_port(
    database_url: str, tmp_path: Path
) -> None:
    port_for_metrics = free_port()
    env = sselfie_env(tmp_path, DATABASE_URL=database_url, METRICS_PORT=str(port_for_metrics))

    with sselfie_worker(env):
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"http://127.0.0.1:{port_for_metrics}/metrics")

    assert response.status_code == 200
    assert parse(response.text).value("sselfie_metrics_database_up") == 1


def test_a_metrics_port_in_use_refuses_the_start(database_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = sselfie_env(tmp_path, DATABASE_URL=database_url, METRICS_PORT=str(port))

        result = run_sselfie("serve", "--port", str(free_port()), env=env)

    named = [line for line in result.stderr.splitlines() if f"METRICS_PORT={port}" in line]
    assert result.returncode == 2
    assert len(named) == 1
    assert "error" in named[0].lower()
    assert "Application startup complete" not in result.stderr
