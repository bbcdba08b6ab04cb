"""The load: timed phases of concurrent requests against a target, and the checks of its pages."""

import asyncio
import itertools
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from bench.generations import PAGE_SIZE, QUERY
from bench.generations.seeding import Sizes

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)
MAX_REQUESTS_PER_SECOND = 20_000  # a cap on each timed phase's count, far above reality
SAMPLE_EVERY = 31  # every so many responses of a timed phase is checked in full


@dataclass(frozen=True)
class Options:
    sizes: Sizes
    concurrency: int
    duration: float
    rounds: int
    sequential: int
    profile: str | None
    workers: list[int]  # `sselfie serve --workers` counts, measured one after the other


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    headers: dict[str, dict[str, str]]  # by user id
    pid: int  # the server: its CPU time and its children's (`--workers N`) are counted
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
    """User + system CPU time so far of a process and its children (Linux /proc; 0
    elsewhere)."""
    return sum(_own_cpu_seconds(each) for each in [pid, *_children(pid)])


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def _own_cpu_seconds(pid: int) -> float:
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
            if not all(
                urlsplit(image["url"]).path.startswith("/images/") for image in node["images"]
            ):
                return "an empty or foreign image URL"
    except (KeyError, TypeError, ValueError) as error:
        return f"not the expected shape: {error!r}"
    return None


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
        "--subprocesses",
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
