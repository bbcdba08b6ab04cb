"""Bytes to show a 20-generation gallery (60 images) at THUMBNAIL, PREVIEW and ORIGINAL.

Seeds a database of its own with one user and 20 SUCCEEDED generations of 3 images
(bench.generations.seeding), and writes each image as the provider would have sent it:
an 896 x 1184 PNG of photo-like content (a smooth colour field with 5 % grain, about
1.8 MB, like a 1 MP model output; seeded, distinct per image) under the data
directory. Then a real `sselfie serve` on loopback: the client asks for the gallery's
page once (`url`, `url(size: PREVIEW)`, `url(size: THUMBNAIL)` of every image) and
fetches every image of a size as a browser would (6 connections), twice per rendition
size: the first load makes each rendition on request (none was queued, as for images
stored before renditions existed), the second is served what was kept.

    python -m bench.renditions [--generations 20]
"""

import argparse
import asyncio
import io
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from PIL import Image

from bench.common import fresh_database, machine
from bench.generations.seeding import Sizes, seed
from bench.servers import TOKEN_SECRET, free_port, sselfie_env, sselfie_server, token_for
from persistence.database import asyncpg_dsn

WIDTH, HEIGHT = 896, 1184
GRAIN = 0.05
SEED = 20_261_130
CONNECTIONS = 6  # what a browser opens to one origin
IMAGES_PER_GENERATION = 3
GALLERY = """
query($first: Int!) { me { generations(first: $first) { edges { node { images {
  original: url
  preview: url(size: PREVIEW)
  thumbnail: url(size: THUMBNAIL)
} } } } } }
"""


@dataclass(frozen=True)
class Load:
    size: str
    label: str
    total_bytes: int
    seconds: float
    content_types: frozenset[str]


def output_png(rng: random.Random) -> bytes:
    coarse = (WIDTH // 32, HEIGHT // 32)
    smooth = Image.frombytes("RGB", coarse, rng.randbytes(coarse[0] * coarse[1] * 3))
    smooth = smooth.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    grain = Image.frombytes("RGB", (WIDTH, HEIGHT), rng.randbytes(WIDTH * HEIGHT * 3))
    buffer = io.BytesIO()
    Image.blend(smooth, grain, GRAIN).save(buffer, "PNG")
    return buffer.getvalue()


async def write_originals(database_url: str, images_dir: Path) -> int:
    """Every seeded image's file under the local store; how many."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        keys = [
            row["storage_key"]
            for row in await connection.fetch(
                "SELECT storage_key FROM generated_images ORDER BY storage_key"
            )
        ]
    finally:
        await connection.close()
    rng = random.Random(SEED)  # noqa: S311 (test pictures)
    for key in keys:
        path = images_dir.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(output_png(rng))
    return len(keys)


async def gallery(client: httpx.AsyncClient, subject: str, first: int) -> list[dict[str, str]]:
    response = await client.post(
        "/graphql",
        json={"query": GALLERY, "variables": {"first": first}},
        headers={"Authorization": f"Bearer {token_for(subject)}"},
    )
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise RuntimeError(f"the gallery query failed: {body['errors']}")
    edges = body["data"]["me"]["generations"]["edges"]
    return [image for edge in edges for image in edge["node"]["images"]]


async def load(client: httpx.AsyncClient, urls: list[str], size: str, label: str) -> Load:
    window = asyncio.Semaphore(CONNECTIONS)
    types: set[str] = set()

    async def one(url: str) -> int:
        async with window:
            response = await client.get(url)
        response.raise_for_status()
        types.add(response.headers["content-type"])
        return len(response.content)

    started = time.perf_counter()
    sizes = await asyncio.gather(*(one(url) for url in urls))
    return Load(size, label, sum(sizes), time.perf_counter() - started, frozenset(types))


async def run(generations: int) -> None:
    print(f"machine: {machine()}")
    async with fresh_database() as database_url:
        seeded = await seed(
            database_url,
            Sizes(
                users=1,
                generations=generations,
                images=IMAGES_PER_GENERATION,
                big_generations=0,
                big_images=0,
            ),
        )
        with tempfile.TemporaryDirectory(prefix="sselfie-bench-renditions-") as data_dir:
            count = await write_originals(database_url, Path(data_dir) / "images")
            print(f"seeded: {generations} generations, {count} images ({WIDTH}x{HEIGHT} PNG)")
            port = free_port()
            env = sselfie_env(
                Path(data_dir),
                DATABASE_URL=database_url,
                AUTH_JWT_SECRET=TOKEN_SECRET,
                PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
            )
            with sselfie_server(env, port=port) as server:
                loads = await measure(server.base_url, seeded.users[0], generations)
    report(loads, count)


async def measure(base_url: str, subject: str, generations: int) -> list[Load]:
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:
        images = await gallery(client, subject, generations)
        return [
            await load(client, [i["original"] for i in images], "ORIGINAL", "stored PNG"),
            await load(client, [i["preview"] for i in images], "PREVIEW", "first load (made)"),
            await load(client, [i["preview"] for i in images], "PREVIEW", "later loads"),
            await load(client, [i["thumbnail"] for i in images], "THUMBNAIL", "first load (made)"),
            await load(client, [i["thumbnail"] for i in images], "THUMBNAIL", "later loads"),
        ]


def report(loads: list[Load], count: int) -> None:
    original = loads[0].total_bytes
    print()
    print(
        f"| size | load | bytes for {count} images | per image | vs ORIGINAL "
        f"| time ({CONNECTIONS} connections) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for each in loads:
        print(
            f"| {each.size} | {each.label} | {each.total_bytes / 1e6:.2f} MB | "
            f"{each.total_bytes / count / 1e3:.0f} kB | {each.total_bytes / original:.3f}x | "
            f"{each.seconds:.2f} s |"
        )
    types = sorted({kind for each in loads for kind in each.content_types})
    print(f"\ncontent types served: {', '.join(types)}")
    mean = statistics.fmean(each.total_bytes for each in loads if each.size == "THUMBNAIL")
    print(f"a THUMBNAIL gallery is {original / mean:.0f}x fewer bytes than ORIGINAL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=20)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.generations))


if __name__ == "__main__":
    main()
