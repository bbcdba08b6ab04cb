"""The floor: the same rows and the same JSON as the server's page, by hand on Starlette
and asyncpg. Run as `python -m bench.generations.baseline PORT`, the database's URL in
$BENCH_GENERATIONS_DATABASE_URL and the server's public origin in
$BENCH_GENERATIONS_PUBLIC_ORIGIN."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiohttp
import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bench.generations import PAGE_SIZE
from bench.servers import stop
from domain.images import ImageUrlSigner
from persistence.database import asyncpg_dsn
from resolvers.global_ids import encode_global_id

BASELINE_POOL_SIZE = 20  # the same as the server's engine (persistence.database)
STARTUP_TIMEOUT_SECONDS = 60
DATABASE_URL_VARIABLE = "BENCH_GENERATIONS_DATABASE_URL"
# The server's PUBLIC_BASE_URL: its image URLs are absolute, on that origin.
ORIGIN_VARIABLE = "BENCH_GENERATIONS_PUBLIC_ORIGIN"


def baseline_app(database_url: str, public_origin: str) -> Starlette:
    """One endpoint: the user (an `X-User-Id` header) and the same three reads, on asyncpg."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            asyncpg_dsn(database_url), min_size=BASELINE_POOL_SIZE, max_size=BASELINE_POOL_SIZE
        )
        try:
            secret = await pool.fetchval(
                "SELECT value FROM server_secrets WHERE name = 'image_urls'"
            )
            state["pool"] = pool
            state["signer"] = ImageUrlSigner(secret)
            yield
        finally:
            await pool.close()

    async def page(request: Request) -> Response:
        await request.body()  # the same query text is sent; read, not parsed
        user_id = request.headers["x-user-id"]
        signer: ImageUrlSigner = state["signer"]
        async with state["pool"].acquire() as connection:
            model = await connection.fetchrow(
                "SELECT status, replicate_version_id FROM user_models WHERE user_id = $1",
                user_id,
            )
            rows = await connection.fetch(
                "SELECT id, status, prompt, parameters FROM generations WHERE user_id = $1 "
                "ORDER BY created_at DESC, id DESC LIMIT $2",
                user_id,
                PAGE_SIZE,
            )
            images = await connection.fetch(
                "SELECT id, generation_id, selected FROM generated_images "
                "WHERE user_id = $1 AND generation_id = ANY($2::uuid[]) "
                "ORDER BY generation_id, position",
                user_id,
                [row["id"] for row in rows],
            )
        by_generation: dict[uuid.UUID, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
        for image in images:
            by_generation[image["generation_id"]].append(
                {
                    "url": public_origin + signer.url(str(image["id"])),
                    "selected": image["selected"],
                }
            )
        edges = [
            {
                "node": {
                    "id": encode_global_id("Generation", str(row["id"])),
                    "status": row["status"],
                    "prompt": row["prompt"],
                    "parameters": {"seed": json.loads(row["parameters"])["seed"]},
                    "images": by_generation[row["id"]],
                }
            }
            for row in rows
        ]
        return JSONResponse(
            {
                "data": {
                    "me": {
                        "model": None
                        if model is None
                        else {
                            "status": model["status"],
                            "replicateVersionId": model["replicate_version_id"],
                        },
                        "generations": {"edges": edges},
                    }
                }
            }
        )

    async def ready(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/page", page, methods=["POST"]), Route("/ready", ready)],
        lifespan=lifespan,
    )


def serve_baseline(port: int) -> None:
    import uvicorn

    uvicorn.run(
        baseline_app(os.environ[DATABASE_URL_VARIABLE], os.environ[ORIGIN_VARIABLE]),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
    )


@contextmanager
def baseline_server(
    database_url: str, port: int, public_origin: str
) -> Iterator["subprocess.Popen[bytes]"]:
    process = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "bench.generations.baseline", str(port)],
        env={**os.environ, DATABASE_URL_VARIABLE: database_url, ORIGIN_VARIABLE: public_origin},
    )
    try:
        yield process
    finally:
        stop(process)


async def wait_until_ready(url: str, process: "subprocess.Popen[bytes]") -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the baseline server exited")
            try:
                async with client.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the baseline server did not start")


if __name__ == "__main__":
    serve_baseline(int(sys.argv[1]))
