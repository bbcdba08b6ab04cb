"""The database the benchmark reads: users, their ready models, generations and images, by COPY."""

import json
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from domain.generation.parameters import SEED_LIMIT, GenerationParameters
from persistence.database import asyncpg_dsn

OWNER = "sandrasocial"


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
