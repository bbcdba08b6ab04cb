"""The generation page (`me { model generations(first: 20) { … images } }`) under load.

Seeds a fresh database (1,000 users x 50 generations x 3 images, plus one user with
100,000 generations), starts one real `sselfie serve` process and, on another loopback
port, a plain Starlette + asyncpg floor that reads the same rows and returns the same
JSON. Measures both under 64 concurrent keep-alive clients, alternating rounds, then
the p50 of sequential requests for the 100,000-generation user against a 50-generation
one. Only loopback addresses are used; every request loop is bounded in count and time.

    python -m bench.generations [--users 1000] [--generations 50] [--images 3]
        [--big-generations 100000] [--big-images 3] [--concurrency 64]
        [--duration 10] [--rounds 2] [--sequential 300] [--profile FILE]
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bench.common import fresh_database, machine, percentile
from domain.generation.parameters import SEED_LIMIT, GenerationParameters
from domain.images import ImageUrlSigner
from persistence.database import asyncpg_dsn
from schema.node import encode_global_id
from tests.e2e.server_process import free_port, sselfie_env, sselfie_server
from tests.integration.api import TEST_SECRET, token_for

PAGE_SIZE = 20
QUERY = (
    "{ me { model { status replicateVersionId } generations(first: 20) { edges { node "
    "{ id status prompt parameters { seed } images { url selected } } } } } }"
)
BASELINE_POOL_SIZE = 20  # the same as the server's engine (persistence.database)
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)
STARTUP_TIMEOUT_SECONDS = 60
MAX_REQUESTS_PER_SECOND = 20_000  # a cap on each timed phase's count, far above reality
SAMPLE_EVERY = 31  # every so many responses of a timed phase is checked in full
DATABASE_URL_VARIABLE = "BENCH_GENERATIONS_DATABASE_URL"
OWNER = "sandrasocial"

AIM_THROUGHPUT_RATIO = 0.5
AIM_P99_SECONDS = 0.050
AIM_SCALING_RATIO = 1.3


# --- seeding -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    users: int
    generations: int
    images: int
    big_generations: int
    big_images: int


@dataclass(frozen=True)
class Seeded:
    users: list[str]  # id = subject, each with `Sizes.generations` generations
    big_user: str
    generations: int
    images: int
    seconds: float


def _user_rows(
    user_ids: Sequence[str], now: datetime, rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    for user_id in user_ids:
        yield (
            uuid.uuid4(),
            user_id,
            f"{OWNER}/{user_id}-selfie-lora",
            rng.randbytes(32).hex(),
            "READY",
            now - timedelta(days=800),
        )


def _generation_and_image_rows(
    user_id: str,
    version: str,
    ks: range,
    images: int,
    newest: datetime,
    rng: random.Random,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Generations number k in `ks` of a user (k = 0 the newest) and their images."""
    generations: list[tuple[Any, ...]] = []
    image_rows: list[tuple[Any, ...]] = []
    replicate_version = f"{OWNER}/{user_id}-selfie-lora:{version}"
    for k in ks:
        generation_id = uuid.uuid4()
        # Newest first at k = 0; ~7 minutes apart (100,000 span about 16 months).
        created_at = newest - timedelta(seconds=k * 420 + rng.randrange(60))
        completed_at = created_at + timedelta(seconds=20 + rng.randrange(20))
        parameters = GenerationParameters(seed=rng.randrange(SEED_LIMIT)).as_dict()
        generations.append(
            (
                generation_id,
                user_id,
                "MAYA",
                replicate_version,
                f"user{user_id} in soft window light, linen shirt, film grain, look {k}",
                json.dumps(parameters),
                "SUCCEEDED",
                created_at,
                completed_at,
                completed_at,
                completed_at,
            )
        )
        for position in range(images):
            image_rows.append(
                (
                    uuid.uuid4(),
                    generation_id,
                    user_id,
                    position,
                    f"generations/{user_id}/{generation_id}/{position}.png",
                    "image/png",
                    896,
                    1184,
                    position == 0 and k % 3 == 0,
                    completed_at,
                )
            )
    return generations, image_rows


GENERATION_COLUMNS = [
    "id",
    "user_id",
    "source",
    "replicate_version",
    "prompt",
    "parameters",
    "status",
    "created_at",
    "updated_at",
    "completed_at",
    "last_heard_at",
]
IMAGE_COLUMNS = [
    "id",
    "generation_id",
    "user_id",
    "position",
    "storage_key",
    "content_type",
    "width",
    "height",
    "selected",
    "created_at",
]
MODEL_COLUMNS = [
    "id",
    "user_id",
    "replicate_model_id",
    "replicate_version_id",
    "status",
    "trained_at",
]
COPY_CHUNK = 20_000  # generations per COPY (and their images)


async def _copy_generations(
    connection: Any,
    owners: Sequence[tuple[str, str, int, int]],  # (user id, version, generations, images)
    now: datetime,
    rng: random.Random,
) -> tuple[int, int]:
    generations: list[tuple[Any, ...]] = []
    images: list[tuple[Any, ...]] = []
    totals = [0, 0]

    async def flush() -> None:
        await connection.copy_records_to_table(
            "generations", records=generations, columns=GENERATION_COLUMNS
        )
        await connection.copy_records_to_table(
            "generated_images", records=images, columns=IMAGE_COLUMNS
        )
        totals[0] += len(generations)
        totals[1] += len(images)
        generations.clear()
        images.clear()

    for user_id, version, count, per_generation in owners:
        newest = now - timedelta(seconds=rng.randrange(3600))
        for start in range(0, count, COPY_CHUNK):
            ks = range(start, min(count, start + COPY_CHUNK))
            more, more_images = _generation_and_image_rows(
                user_id, version, ks, per_generation, newest, rng
            )
            generations.extend(more)
            images.extend(more_images)
            if len(generations) >= COPY_CHUNK:
                await flush()
    if generations:
        await flush()
    return totals[0], totals[1]


async def seed(database_url: str, sizes: Sizes) -> Seeded:
    started = time.perf_counter()
    rng = random.Random(20261125)  # noqa: S311 (test data, not secrets)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    users = [f"u{i:05d}" for i in range(sizes.users)]
    big_user = "bigu00001"
    everyone = [*users, big_user]
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.copy_records_to_table(
            "users", records=[(user_id, user_id) for user_id in everyone], columns=["id", "subject"]
        )
        models = list(_user_rows(everyone, now, rng))
        await connection.copy_records_to_table("user_models", records=models, columns=MODEL_COLUMNS)
        versions = {row[1]: row[3] for row in models}
        owners = [
            (user_id, versions[user_id], sizes.generations, sizes.images) for user_id in users
        ]
        owners.append((big_user, versions[big_user], sizes.big_generations, sizes.big_images))
        generations, images = await _copy_generations(connection, owners, now, rng)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return Seeded(users, big_user, generations, images, time.perf_counter() - started)


# --- the floor: the same rows and JSON, by hand ------------------------------------------


def baseline_app(database_url: str) -> Starlette:
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
                {"url": signer.url(str(image["id"])), "selected": image["selected"]}
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
        baseline_app(os.environ[DATABASE_URL_VARIABLE]),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
    )


@contextmanager
def baseline_server(database_url: str, port: int) -> Iterator["subprocess.Popen[bytes]"]:
    process = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "bench.generations", "--serve-baseline", str(port)],
        env={**os.environ, DATABASE_URL_VARIABLE: database_url},
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


# --- load ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    headers: dict[str, dict[str, str]]  # by user id
    pid: int  # the serving process, whose CPU time is counted
    body: bytes = field(default=json.dumps({"query": QUERY}).encode())


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    failures: list[str] = field(default_factory=list)
    samples: list[tuple[str, bytes]] = field(default_factory=list)
    cpu_seconds: float = 0.0  # of the serving process

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_seconds / len(self.latencies) if self.latencies else float("nan")

    def add(self, other: "Phase") -> None:
        self.latencies.extend(other.latencies)
        self.elapsed += other.elapsed
        self.failures.extend(other.failures)
        self.samples.extend(other.samples)
        self.cpu_seconds += other.cpu_seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def post(client: aiohttp.ClientSession, target: Target, user: str) -> tuple[int, bytes]:
    async with client.post(target.url, data=target.body, headers=target.headers[user]) as response:
        return response.status, await response.read()


async def drive(
    client: aiohttp.ClientSession,
    target: Target,
    users: Sequence[str],
    *,
    concurrency: int,
    seconds: float | None,
    count: int | None,
) -> Phase:
    """`concurrency` clients in a closed loop, for `seconds` or `count` requests."""
    limit = count if count is not None else int((seconds or 0) * MAX_REQUESTS_PER_SECOND)
    phase = Phase()
    numbers = itertools.count()
    first = random.randrange(len(users))  # noqa: S311
    cpu_before = cpu_seconds(target.pid)
    started = time.perf_counter()
    deadline = started + (seconds if seconds is not None else 600)

    async def client_loop() -> None:
        while time.perf_counter() < deadline:
            number = next(numbers)
            if number >= limit:
                return
            user = users[(first + number) % len(users)]
            sent = time.perf_counter()
            try:
                status, body = await post(client, target, user)
            except (aiohttp.ClientError, TimeoutError) as error:
                phase.failures.append(f"{user}: {error!r}")
                continue
            phase.latencies.append(time.perf_counter() - sent)
            if status != 200 or b'"errors"' in body:
                phase.failures.append(f"{user}: {status} {body[:200]!r}")
            elif number % SAMPLE_EVERY == 0:
                phase.samples.append((user, body))

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    phase.elapsed = time.perf_counter() - started
    phase.cpu_seconds = cpu_seconds(target.pid) - cpu_before
    return phase


def check_page(body: bytes, images: int) -> str | None:
    """What is wrong with a page, or None."""
    try:
        me = json.loads(body)["data"]["me"]
        if me["model"]["status"] != "READY" or len(me["model"]["replicateVersionId"]) != 64:
            return "the model is not READY with a version"
        edges = me["generations"]["edges"]
        if len(edges) != PAGE_SIZE:
            return f"{len(edges)} edges"
        for edge in edges:
            node = edge["node"]
            if not node["id"] or node["status"] != "SUCCEEDED" or not node["prompt"]:
                return f"a wrong node: {node}"
            if not isinstance(node["parameters"]["seed"], int):
                return "no seed"
            if len(node["images"]) != images:
                return f"{len(node['images'])} images"
            if not all(image["url"].startswith("/images/") for image in node["images"]):
                return "an empty or foreign image URL"
    except (KeyError, TypeError, ValueError) as error:
        return f"not the expected shape: {error!r}"
    return None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def describe(phase: Phase) -> str:
    latencies = phase.latencies
    return (
        f"{phase.throughput:7.0f} req/s  ({len(latencies)} in {phase.elapsed:.1f} s)  "
        f"p50 {ms(percentile(latencies, 0.5))}  p99 {ms(percentile(latencies, 0.99))}  "
        f"mean {ms(statistics.fmean(latencies)) if latencies else '-'}  "
        f"server CPU {ms(phase.cpu_per_request)}/req "
        f"({phase.cpu_seconds / phase.elapsed:.0%} of a core)"
    )


async def sequential_p50s(
    client: aiohttp.ClientSession, target: Target, users: Sequence[str], count: int
) -> dict[str, list[float]]:
    """`count` requests per user, one at a time, the users taking turns."""
    latencies: dict[str, list[float]] = {user: [] for user in users}
    deadline = time.perf_counter() + 120
    for _ in range(count):
        for user in users:
            if time.perf_counter() > deadline:
                return latencies
            sent = time.perf_counter()
            status, body = await post(client, target, user)
            latencies[user].append(time.perf_counter() - sent)
            if status != 200 or b'"errors"' in body:
                raise SystemExit(f"{user}: {status} {body[:300]!r}")
    return latencies


async def profile(pid: int, output: str, seconds: float) -> "asyncio.subprocess.Process":
    py_spy = Path(sys.executable).parent / "py-spy"
    return await asyncio.create_subprocess_exec(
        str(py_spy),
        "record",
        "-p",
        str(pid),
        "-d",
        str(round(seconds)),
        "-f",
        "raw",
        "-o",
        output,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


# --- the run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    sizes: Sizes
    concurrency: int
    duration: float
    rounds: int
    sequential: int
    profile: str | None


async def run(options: Options) -> None:
    print(f"machine: {machine()}")
    print(
        "note: PostgreSQL, the sselfie server, the baseline server and this load generator "
        f"share the machine's {os.cpu_count()} cores"
    )
    async with fresh_database() as database_url:
        seeded = await seed(database_url, options.sizes)
        sizes = options.sizes
        print(
            f"seeded: {len(seeded.users)} users x {sizes.generations} generations x "
            f"{sizes.images} images, plus 1 user with {sizes.big_generations} generations x "
            f"{sizes.big_images} images ({seeded.generations} generations, {seeded.images} "
            f"images in {seeded.seconds:.1f} s, then ANALYZE)"
        )
        data_dir = tempfile.TemporaryDirectory(prefix="sselfie-bench-data-")
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        env = sselfie_env(
            Path(data_dir.name),
            DATABASE_URL=database_url,
            AUTH_JWT_SECRET=TEST_SECRET,
            REPLICATE_API_TOKEN="unused-by-this-benchmark",  # noqa: S106
            REPLICATE_API_BASE_URL="http://127.0.0.1:9/v1",
            REPLICATE_WEBHOOK_SECRET="whsec_" + secrets.token_urlsafe(24),
            PUBLIC_BASE_URL=origin,
        )
        with data_dir, sselfie_server(env, port=port) as server:
            # The server made the image URL secret at start; the floor reads the same one.
            baseline_port = free_port()
            with baseline_server(database_url, baseline_port) as baseline:
                await wait_until_ready(f"http://127.0.0.1:{baseline_port}/ready", baseline)
                await measure(
                    options,
                    seeded,
                    origin,
                    f"http://127.0.0.1:{baseline_port}",
                    server.process.pid,
                    baseline.pid,
                )


async def measure(
    options: Options,
    seeded: Seeded,
    origin: str,
    baseline_origin: str,
    server_pid: int,
    baseline_pid: int,
) -> None:
    users = seeded.users
    everyone = [*users, seeded.big_user]
    graphql = Target(
        "graphql",
        f"{origin}/graphql",
        {
            user: {"Authorization": f"Bearer {token_for(user)}", "Content-Type": "application/json"}
            for user in everyone
        },
        server_pid,
    )
    baseline = Target(
        "baseline",
        f"{baseline_origin}/page",
        {user: {"X-User-Id": user, "Content-Type": "application/json"} for user in everyone},
        baseline_pid,
    )
    concurrency = options.concurrency
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=REQUEST_TIMEOUT) as client:
        for target in (graphql, baseline):
            warm = await drive(
                client, target, everyone, concurrency=concurrency, seconds=None, count=len(everyone)
            )
            if warm.failures:
                raise SystemExit(f"{target.name} warm-up failed: {warm.failures[:3]}")
            print(
                f"warm-up {target.name:8}: each of the {len(everyone)} users once "
                f"({warm.elapsed:.1f} s)"
                + (
                    "; the server's in-process sign-in cache is now warm"
                    if target is graphql
                    else ""
                )
            )
        await check_same_json(client, graphql, baseline, [*users[:10], seeded.big_user])

        totals = {graphql.name: Phase(), baseline.name: Phase()}
        print(
            f"load: {concurrency} concurrent keep-alive clients, users round-robin, "
            f"{options.rounds} alternating rounds of {options.duration:.0f} s per target"
        )
        for number in range(1, options.rounds + 1):
            for target in (graphql, baseline):
                phase = await drive(
                    client,
                    target,
                    users,
                    concurrency=concurrency,
                    seconds=options.duration,
                    count=None,
                )
                print(f"  round {number} {target.name:8} {describe(phase)}")
                totals[target.name].add(phase)

        failures = 0
        for name, phase in totals.items():
            wrong = [
                (user, problem)
                for user, body in phase.samples
                if (problem := check_page(body, options.sizes.images)) is not None
            ]
            failures += len(phase.failures) + len(wrong)
            print(
                f"checked {name}: {len(phase.failures)} failed requests; "
                f"{len(phase.samples) - len(wrong)}/{len(phase.samples)} sampled pages correct "
                f"(20 edges, {options.sizes.images} images each, signed URLs)"
                + (f" — {phase.failures[:2]} {wrong[:2]}" if phase.failures or wrong else "")
            )

        scaling = await sequential_p50s(
            client, graphql, [seeded.big_user, users[0]], options.sequential
        )
        big_body = (await post(client, graphql, seeded.big_user))[1]
        if (problem := check_page(big_body, options.sizes.big_images)) is not None:
            failures += 1
            print(f"the big user's page is wrong: {problem}")

        if options.profile:
            seconds = max(3.0, min(10.0, options.duration))
            spy = await profile(server_pid, options.profile, seconds)
            await drive(
                client, graphql, users, concurrency=concurrency, seconds=seconds + 1, count=None
            )
            await asyncio.wait_for(spy.wait(), 60)
            print(f"profile (extra, unmeasured load): {options.profile}")

    report(options, seeded, totals[graphql.name], totals[baseline.name], scaling)
    if failures:
        raise SystemExit(f"{failures} failures")


async def check_same_json(
    client: aiohttp.ClientSession, graphql: Target, baseline: Target, users: Sequence[str]
) -> None:
    """The floor must answer exactly what the server answers (else it is no floor)."""
    for user in users:
        for _ in range(2):  # a second try, should an URL signing window end in between
            mine = json.loads((await post(client, graphql, user))[1])
            theirs = json.loads((await post(client, baseline, user))[1])
            if mine == theirs:
                break
        else:
            raise SystemExit(f"graphql and baseline differ for {user}:\n{mine}\n{theirs}")
    print(f"same JSON from graphql and baseline for {len(users)} users (big user included)")


def report(
    options: Options,
    seeded: Seeded,
    graphql: Phase,
    baseline: Phase,
    scaling: dict[str, list[float]],
) -> None:
    ratio = graphql.throughput / baseline.throughput
    p99 = percentile(graphql.latencies, 0.99)
    big, small = (scaling[seeded.big_user], scaling[seeded.users[0]])
    big_p50, small_p50 = percentile(big, 0.5), percentile(small, 0.5)
    scaling_ratio = big_p50 / small_p50

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    print()
    print(f"machine: {machine()}")
    print(f"graphql  {describe(graphql)}")
    print(f"baseline {describe(baseline)}")
    print(
        f"throughput graphql/baseline: {ratio:.2f} "
        f"(aim >= {AIM_THROUGHPUT_RATIO}: {verdict(ratio >= AIM_THROUGHPUT_RATIO)})"
    )
    print(
        f"graphql p99 at {options.concurrency} concurrent: {ms(p99)} "
        f"(aim <= {ms(AIM_P99_SECONDS)}: {verdict(p99 <= AIM_P99_SECONDS)})"
    )
    print(
        f"sequential graphql p50, {len(big)} requests each: "
        f"{options.sizes.big_generations} generations {ms(big_p50)}, "
        f"{options.sizes.generations} generations {ms(small_p50)}; "
        f"ratio {scaling_ratio:.2f} (aim <= {AIM_SCALING_RATIO}: "
        f"{verdict(scaling_ratio <= AIM_SCALING_RATIO)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--generations", type=int, default=50, help="per user")
    parser.add_argument("--images", type=int, default=3, help="per generation")
    parser.add_argument("--big-generations", type=int, default=100_000)
    parser.add_argument("--big-images", type=int, default=3, help="per big-user generation")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sequential", type=int, default=300, help="requests per user")
    parser.add_argument("--profile", metavar="FILE", help="py-spy raw profile of extra load")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline)
        return
    if args.generations < PAGE_SIZE or args.big_generations < PAGE_SIZE or args.users < 1:
        parser.error(f"every user needs at least {PAGE_SIZE} generations")
    options = Options(
        Sizes(args.users, args.generations, args.images, args.big_generations, args.big_images),
        args.concurrency,
        args.duration,
        args.rounds,
        args.sequential,
        args.profile,
    )
    uvloop.run(run(options))


if __name__ == "__main__":
    main()
