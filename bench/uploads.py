"""startTraining with 30 phone photos, before and after the image process pool.

Generates 30 phone-like photos (4032 x 3024 JPEG of noisy content, about 3.6 MB each,
EXIF orientation 6; seeded, cached under the temp dir), starts a fake Replicate and,
one after the other on the same database, two real servers: BEFORE (`bench.legacy_server`:
the old selfie step, in-process at full size, 2048 px out, allowance checked after
decoding) and AFTER (`sselfie serve`: cheap checks first, the process pool, 1536 px out).
Each is warmed up by one 10-photo start, then for every round a fresh user:

  * start: the 30-photo startTraining, timed end to end at the client;
  * refused: the user's training is canceled, and (with DAILY_TRAINING_LIMIT=1) the same
    upload again, refused with QUOTA_EXCEEDED.

Peak memory is the largest sum of RSS over the server process and all its descendants
(the image workers and their fork server), sampled from /proc every 10 ms during the
request. Only loopback addresses are used.

    python -m bench.uploads [--rounds 3] [--photos 30]
"""

import argparse
import asyncio
import hashlib
import io
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import ExifTags, Image

from bench.common import fresh_database, machine
from bench.servers import TOKEN_SECRET, Server, free_port, sselfie_env, started, token_for

# Replicate's stand-in: the repository's Replicate-compatible fake, the one instrument
# there is (the e2e tests run on it too); the one import of this benchmark from `tests/`.
from tests.fake_replicate import FakeReplicate

PHOTO_SIZE = (4032, 3024)
PHOTO_QUALITY = 90
NOISE = 0.095  # blended over a smooth field: about 3.6 MB per photo at quality 90
SEED = 20_240_601
REQUEST_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
SAMPLE_SECONDS = 0.01
AIM_RATIO = 0.4
CANCEL = "mutation($id: ID!) { cancelTraining(id: $id) { id status } }"
START_TRAINING = (
    "mutation($input: StartTrainingInput!) { startTraining(input: $input) { "
    "trainingJob { id status progress imageCount replicateTrainingId error } "
    "model { id status replicateModelId replicateVersionId triggerWord } } }"
)


# --- photos --------------------------------------------------------------------------


def phone_photo(seed: int) -> bytes:
    rng = random.Random(seed)  # noqa: S311 (test pictures)
    width, height = PHOTO_SIZE
    coarse = (width // 32, height // 32)
    smooth = Image.frombytes("RGB", coarse, rng.randbytes(coarse[0] * coarse[1] * 3))
    smooth = smooth.resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
    grain = Image.frombytes("RGB", PHOTO_SIZE, rng.randbytes(width * height * 3))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Orientation] = 6
    buffer = io.BytesIO()
    Image.blend(smooth, grain, NOISE).save(
        buffer, "JPEG", quality=PHOTO_QUALITY, exif=exif.tobytes()
    )
    return buffer.getvalue()


def phone_photos(count: int) -> list[bytes]:
    """`count` distinct photos, made once and kept under the temp dir."""
    key = hashlib.sha256(repr((PHOTO_SIZE, PHOTO_QUALITY, NOISE, SEED)).encode()).hexdigest()
    cache = Path(tempfile.gettempdir()) / f"sselfie-bench-photos-{key[:12]}"
    cache.mkdir(exist_ok=True)
    photos = []
    for index in range(count):
        path = cache / f"photo-{index:02d}.jpg"
        if not path.exists():
            partial = path.with_suffix(".part")
            partial.write_bytes(phone_photo(SEED + index))
            partial.replace(path)
        photos.append(path.read_bytes())
    return photos


# --- memory --------------------------------------------------------------------------


def _rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    tasks = Path(f"/proc/{pid}/task")
    try:
        children = [int(child) for task in tasks.iterdir() for child in _children_of(task)]
    except OSError:
        return found
    for child in children:
        found += [child, *_descendants(child)]
    return found


def _children_of(task: Path) -> list[str]:
    try:
        return (task / "children").read_text().split()
    except OSError:
        return []


def tree_rss(pid: int) -> int:
    return sum(_rss_bytes(each) for each in (pid, *_descendants(pid)))


@contextmanager
def peak_rss(pid: int) -> Iterator[list[int]]:
    """Yields a one-item list that holds the peak RSS of the tree once the block ends."""
    peak = [tree_rss(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            peak[0] = max(peak[0], tree_rss(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], tree_rss(pid))


# --- servers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    module: str


VARIANTS = (Variant("before", "bench.legacy_server"), Variant("after", "server.cli"))


@contextmanager
def server(module: str, env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    with started([module, "serve", "--port", str(port)], env, port) as running:
        yield running


# --- requests ------------------------------------------------------------------------


async def upload(client: httpx.AsyncClient, subject: str, photos: list[bytes]) -> dict[str, Any]:
    operations = json.dumps(
        {"query": START_TRAINING, "variables": {"input": {"images": [None] * len(photos)}}}
    )
    mapping = {str(i): [f"variables.input.images.{i}"] for i in range(len(photos))}
    response = await client.post(
        "/graphql",
        data={"operations": operations, "map": json.dumps(mapping)},
        files=[
            (str(i), (f"IMG_{i:04d}.jpg", photo, "image/jpeg")) for i, photo in enumerate(photos)
        ],
        headers={"Authorization": f"Bearer {token_for(subject)}", "Apollo-Require-Preflight": "1"},
    )
    body: dict[str, Any] = response.json()
    return body


def code_of(body: dict[str, Any]) -> str:
    errors = body.get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else "OK"


@dataclass
class Measured:
    start_seconds: list[float] = field(default_factory=list)
    start_peak: list[int] = field(default_factory=list)
    refused_seconds: list[float] = field(default_factory=list)
    refused_peak: list[int] = field(default_factory=list)
    idle_rss: int = 0


async def timed(
    client: httpx.AsyncClient, pid: int, subject: str, photos: list[bytes], expected: str
) -> tuple[float, int, dict[str, Any]]:
    with peak_rss(pid) as peak:
        began = time.perf_counter()
        body = await upload(client, subject, photos)
        seconds = time.perf_counter() - began
    if code_of(body) != expected:
        raise RuntimeError(f"{subject}: expected {expected}, got {json.dumps(body)[:500]}")
    return seconds, peak[0], body


async def measure(
    variant: Variant, database_url: str, fake: FakeReplicate, photos: list[bytes], rounds: int
) -> Measured:
    measured = Measured()
    with tempfile.TemporaryDirectory(prefix="sselfie-bench-data-") as data_dir:
        env = sselfie_env(
            Path(data_dir),
            DATABASE_URL=database_url,
            AUTH_JWT_SECRET=TOKEN_SECRET,
            REPLICATE_API_TOKEN=fake.token,
            REPLICATE_API_BASE_URL=fake.base_url,
            DAILY_TRAINING_LIMIT="1",
        )
        with server(variant.module, env) as running:
            pid = running.pid
            async with httpx.AsyncClient(
                base_url=running.base_url, timeout=REQUEST_TIMEOUT
            ) as client:
                await timed(client, pid, f"{variant.name}-warm-up", photos[:10], "OK")
                measured.idle_rss = tree_rss(pid)
                for round_ in range(rounds):
                    subject = f"{variant.name}-{round_}"
                    seconds, peak, body = await timed(client, pid, subject, photos, "OK")
                    measured.start_seconds.append(seconds)
                    measured.start_peak.append(peak)
                    job = body["data"]["startTraining"]["trainingJob"]["id"]
                    canceled = await client.post(
                        "/graphql",
                        json={"query": CANCEL, "variables": {"id": job}},
                        headers={"Authorization": f"Bearer {token_for(subject)}"},
                    )
                    if code_of(canceled.json()) != "OK":
                        raise RuntimeError(f"{subject}: not canceled: {canceled.text}")
                    seconds, peak, _ = await timed(client, pid, subject, photos, "QUOTA_EXCEEDED")
                    measured.refused_seconds.append(seconds)
                    measured.refused_peak.append(peak)
                    print(
                        f"  {variant.name} round {round_ + 1}: start "
                        f"{measured.start_seconds[-1]:.2f} s, refused {seconds:.2f} s",
                        flush=True,
                    )
    return measured


# --- report --------------------------------------------------------------------------


def mib(count: float) -> str:
    return f"{count / (1024 * 1024):.0f} MiB"


def report(results: dict[str, Measured], photos: list[bytes], workers: str) -> None:
    before, after = results["before"], results["after"]
    ratio = statistics.median(after.start_seconds) / statistics.median(before.start_seconds)
    print()
    print(f"machine: {machine()}; IMAGE_WORKERS={workers}")
    print(
        f"photos: {len(photos)} x {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG, EXIF orientation 6, "
        f"mean {statistics.fmean(map(len, photos)) / 1e6:.2f} MB "
        f"({sum(map(len, photos)) / 1e6:.0f} MB in all)"
    )
    print("| | start, median (all) | start peak RSS | QUOTA_EXCEEDED, median | refused peak RSS |")
    print("|---|---|---|---|---|")
    for name, measured in results.items():
        starts = ", ".join(f"{s:.2f}" for s in measured.start_seconds)
        print(
            f"| {name} | {statistics.median(measured.start_seconds):.2f} s ({starts}) "
            f"| {mib(max(measured.start_peak))} (idle {mib(measured.idle_rss)}) "
            f"| {statistics.median(measured.refused_seconds):.2f} s "
            f"| {mib(max(measured.refused_peak))} |"
        )
    verdict = "met" if ratio <= AIM_RATIO else "NOT met"
    print(f"after / before (median start): {ratio:.2f} (aim <= {AIM_RATIO}: {verdict})")


async def run(rounds: int, count: int) -> None:
    photos = phone_photos(count)
    results: dict[str, Measured] = {}
    async with fresh_database() as database_url, FakeReplicate() as fake:
        for variant in VARIANTS:
            print(f"{variant.name}: {variant.module}", flush=True)
            results[variant.name] = await measure(variant, database_url, fake, photos, rounds)
    report(results, photos, os.environ.get("IMAGE_WORKERS", f"{os.cpu_count()} (default)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photos", type=int, default=30)
    options = parser.parse_args()
    asyncio.run(run(options.rounds, options.photos))


if __name__ == "__main__":
    main()
