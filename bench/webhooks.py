"""Signed `logs` webhooks for many concurrent trainings against one real server process.

Measures the sustained rate of accepted webhooks, with every job's final state
checked, and the latency from a webhook's acceptance to its subscriber's update,
with one open subscription per training. Runs once per `--workers` count (server
processes on the one port, each run on a fresh database), one after the other. Only
loopback addresses are used.

    python -m bench.webhooks [--trainings 1000] [--steps 5] [--concurrency 64] [--workers 1,2]
"""

import argparse
import asyncio
import json
import secrets
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import websockets

from bench.common import fresh_database, machine, percentile, summary_ms, worker_counts
from bench.servers import TOKEN_SECRET, free_port, sselfie_env, sselfie_server, token_for
from domain.webhook_links import KEY_NAME, WebhookKind, WebhookLinks
from persistence.database import asyncpg_dsn, create_engine
from persistence.secrets import shared_secret
from replicate_client import new_webhook_secret, sign_webhook
from resolvers.global_ids import encode_global_id

TOTAL_STEPS = 1000
SUBSCRIPTION = "subscription($id: ID) { trainingProgress(trainingJobId: $id) { progress } }"


@dataclass
class Training:
    user_id: str
    job_id: str
    replicate_id: str
    accepted_at: dict[float, float] = field(default_factory=dict)
    notified_at: dict[float, float] = field(default_factory=dict)
    all_seen: asyncio.Event = field(default_factory=asyncio.Event)


async def seed(database_url: str, count: int) -> list[Training]:
    trainings = [Training(f"b{i:08d}", str(uuid.uuid4()), f"r8train{i:08d}") for i in range(count)]
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.executemany(
            "INSERT INTO users (id, subject) VALUES ($1, $1)", [(t.user_id,) for t in trainings]
        )
        model_ids = [uuid.uuid4() for _ in trainings]
        await connection.executemany(
            "INSERT INTO user_models (id, user_id, replicate_model_id, status) "
            "VALUES ($1, $2, $3, 'TRAINING')",
            [
                (model_id, t.user_id, f"sandrasocial/{t.user_id}-selfie-lora")
                for model_id, t in zip(model_ids, trainings, strict=True)
            ],
        )
        await connection.executemany(
            "INSERT INTO training_jobs (id, user_id, model_id, status, image_count, "
            "replicate_training_id) VALUES ($1, $2, $3, 'STARTING', 12, $4)",
            [
                (uuid.UUID(t.job_id), t.user_id, model_id, t.replicate_id)
                for model_id, t in zip(model_ids, trainings, strict=True)
            ],
        )
    finally:
        await connection.close()
    return trainings


def logs_up_to(step: int) -> str:
    lines = [
        "Loading checkpoint shards: 100%|##########| 3/3 [00:02<00:00,  1.20it/s]",
        *(
            f"flux_train_replicate: {s * 100 // TOTAL_STEPS:3d}%|#####     | {s}/{TOTAL_STEPS} "
            "[01:00<01:00,  1.05s/it, lr: 4.0e-04 loss: 2.472e-01]"
            for s in range(100, step + 1, 100)
        ),
    ]
    return "\n".join(lines) + "\n"


async def follow(ws_url: str, training: Training, steps: int, opened: asyncio.Event) -> None:
    expected = {step * 100 / TOTAL_STEPS for step in range(1, steps + 1)}
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as connection:  # type: ignore[list-item]
        token = token_for(training.user_id)
        await connection.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        await connection.recv()
        variables = {"id": encode_global_id("TrainingJob", training.job_id)}
        await connection.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": variables},
                }
            )
        )
        await connection.recv()  # the current state
        opened.set()
        while not expected <= training.notified_at.keys():
            message = json.loads(await connection.recv())
            progress = message["payload"]["data"]["trainingProgress"]["progress"]
            training.notified_at.setdefault(progress, time.perf_counter())
    training.all_seen.set()


@dataclass(frozen=True)
class Webhook:
    training: Training
    progress: float
    path: str
    body: bytes
    headers: dict[str, str]


async def webhook_links(database_url: str, origin: str) -> WebhookLinks:
    """The server's own webhook URLs: each carries its job's token, kept in the database."""
    engine = create_engine(database_url, pool_size=1)
    try:
        key = await shared_secret(engine, KEY_NAME)
    finally:
        await engine.dispose()
    return WebhookLinks(f"{origin}/webhooks/replicate", key)


def prepare_webhook(secret: str, links: WebhookLinks, training: Training, step: int) -> Webhook:
    """Built and signed before the clock starts: the client should cost little."""
    body = json.dumps(
        {
            "id": training.replicate_id,
            "status": "processing",
            "logs": logs_up_to(step * 100),
            "error": None,
            "output": None,
            "created_at": "2026-11-25T10:00:00Z",
            "started_at": "2026-11-25T10:00:01Z",
            "completed_at": None,
        }
    ).encode()
    webhook_id = f"msg_{secrets.token_hex(8)}"
    timestamp = int(time.time())
    return Webhook(
        training,
        step * 100 / TOTAL_STEPS,
        _path_of(links.url_for(WebhookKind.TRAINING, training.job_id)),
        body,
        {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_webhook(secret, webhook_id, timestamp, body),
            "content-type": "application/json",
        },
    )


def _path_of(url: str | None) -> str:
    if url is None:
        raise RuntimeError("the benchmark's server must take webhooks (PUBLIC_BASE_URL)")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def send_webhook(client: aiohttp.ClientSession, webhook: Webhook) -> None:
    async with client.post(webhook.path, data=webhook.body, headers=webhook.headers) as response:
        response.raise_for_status()
        await response.read()
    webhook.training.accepted_at[webhook.progress] = time.perf_counter()


@dataclass(frozen=True)
class Outcome:
    throughput: float
    latencies: list[float]


async def run(trainings_count: int, steps: int, concurrency: int, workers: list[int]) -> None:
    outcomes = {}
    for count in workers:
        print(f"== sselfie serve --workers {count}")
        outcomes[count] = await run_once(trainings_count, steps, concurrency, count)
    print(f"machine: {machine()}")
    for count, outcome in outcomes.items():
        print(
            f"--workers {count}: {outcome.throughput:.0f} webhooks/s; accepted -> notified "
            f"{summary_ms(outcome.latencies)}"
        )


async def run_once(trainings_count: int, steps: int, concurrency: int, workers: int) -> Outcome:
    secret = new_webhook_secret()
    async with fresh_database() as database_url:
        trainings = await seed(database_url, trainings_count)
        data_dir = tempfile.mkdtemp(prefix="sselfie-bench-data-")
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        env = sselfie_env(
            Path(data_dir),
            DATABASE_URL=database_url,
            AUTH_JWT_SECRET=TOKEN_SECRET,
            REPLICATE_API_TOKEN="unused-by-this-benchmark",  # noqa: S106
            REPLICATE_API_BASE_URL="http://127.0.0.1:9/v1",
            REPLICATE_WEBHOOK_SECRET=secret,
            PUBLIC_BASE_URL=origin,
            WEBHOOK_SILENCE_SECONDS="3600",
        )
        with sselfie_server(env, port=port, workers=workers):
            links = await webhook_links(database_url, origin)
            outcome = await measure(origin, trainings, steps, concurrency, secret, links)
        await check_final_state(database_url, trainings, steps)
    return outcome


async def measure(
    origin: str,
    trainings: list[Training],
    steps: int,
    concurrency: int,
    secret: str,
    links: WebhookLinks,
) -> Outcome:
    ws_url = origin.replace("http://", "ws://") + "/graphql"
    opened = [asyncio.Event() for _ in trainings]
    followers = [
        asyncio.create_task(follow(ws_url, training, steps, event))
        for training, event in zip(trainings, opened, strict=True)
    ]
    for chunk in range(0, len(opened), 100):
        await asyncio.gather(*(event.wait() for event in opened[chunk : chunk + 100]))
    print(f"{len(trainings)} subscriptions open")

    rounds = [
        [prepare_webhook(secret, links, training, step) for training in trainings]
        for step in range(1, steps + 1)
    ]
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=origin, connector=connector) as client:

        async def one(webhook: Webhook) -> None:
            async with gate:
                await send_webhook(client, webhook)

        started = time.perf_counter()
        for webhooks in rounds:
            await asyncio.gather(*(one(webhook) for webhook in webhooks))
        elapsed = time.perf_counter() - started
    await asyncio.wait_for(asyncio.gather(*(t.all_seen.wait() for t in trainings)), 120)
    await asyncio.gather(*followers)

    sent = len(trainings) * steps
    latencies = [
        max(0.0, training.notified_at[progress] - accepted)
        for training in trainings
        for progress, accepted in training.accepted_at.items()
    ]
    print(f"machine: {machine()}")
    print(
        f"webhooks: {sent} signed `logs` webhooks for {len(trainings)} trainings, "
        f"{concurrency} in flight"
    )
    print(f"throughput: {sent / elapsed:.0f} webhooks/s ({elapsed:.2f} s)")
    print(
        f"accepted -> subscriber notified: {summary_ms(latencies)} "
        f"(p99 {percentile(latencies, 0.99) * 1000:.1f} ms)"
    )
    return Outcome(sent / elapsed, latencies)


async def check_final_state(database_url: str, trainings: list[Training], steps: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch("SELECT status, progress FROM training_jobs")
    finally:
        await connection.close()
    expected = steps * 100 / TOTAL_STEPS
    wrong = [row for row in rows if (row["status"], row["progress"]) != ("PROCESSING", expected)]
    print(f"final state: {len(rows) - len(wrong)}/{len(rows)} jobs correct")
    if wrong or len(rows) != len(trainings):
        raise SystemExit("some jobs ended in the wrong state")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trainings", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--workers", type=worker_counts, default=[1, 2], help="server processes, e.g. 1,2"
    )
    args = parser.parse_args()
    asyncio.run(run(args.trainings, args.steps, args.concurrency, args.workers))


if __name__ == "__main__":
    main()
