"""The S3 storage adapter against a real S3 API (moto's server on loopback)."""

import asyncio
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from domain.images import PRESIGNED_URL_MAX_SECONDS, ImageStorage, StorageUnavailable
from image_storage import S3Connection, S3ImageStorage
from image_storage.s3 import PROBE_KEY
from tests.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoS3
from tests.s3 import signature_matches as signed_for_a_real_store

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 100
KEY = "user-1/generation-1/0.png"


def connection(endpoint_url: str, bucket: str, prefix: str = "", **extra: str) -> S3Connection:
    return S3Connection(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        **extra,
    )


def storage_in(moto_s3: MotoS3, bucket: str, prefix: str = "") -> S3ImageStorage:
    return S3ImageStorage(connection(moto_s3.endpoint_url, bucket, prefix))


def expiry_of(url: str) -> tuple[datetime, int]:
    query = parse_qs(urlsplit(url).query)
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed_at, int(query["X-Amz-Expires"][0])


@pytest.fixture
def dead_endpoint() -> Iterator[str]:
    """A loopback port held by a socket that does not listen: connections are refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


async def test_an_image_is_saved_read_and_deleted(moto_s3: MotoS3, bucket: str) -> None:
    storage = storage_in(moto_s3, bucket)

    await storage.save(KEY, PNG, "image/png")
    read = await storage.read(KEY)
    await storage.delete(KEY)

    assert read == PNG
    assert await storage.read(KEY) is None
    assert moto_s3.keys(bucket) == []


async def test_absent_images_read_as_none_and_delete_quietly(moto_s3: MotoS3, bucket: str) -> None:
    storage = storage_in(moto_s3, bucket)

    assert await storage.read(KEY) is None
    await storage.delete(KEY)
    assert moto_s3.keys(bucket) == []


async def test_saving_a_key_again_replaces_its_object(moto_s3: MotoS3, bucket: str) -> None:
    storage = storage_in(moto_s3, bucket)

    await storage.save(KEY, b"first", "image/png")
    await storage.save(KEY, PNG, "image/png")

    assert await storage.read(KEY) == PNG
    assert moto_s3.keys(bucket) == [KEY]


async def test_keys_live_under_the_prefix_and_prefixes_keep_apart(
    moto_s3: MotoS3, bucket: str
) -> None:
    studio = storage_in(moto_s3, bucket, "studio/images")
    other = storage_in(moto_s3, bucket, "other")

    await studio.save(KEY, PNG, "image/png")

    assert moto_s3.keys(bucket) == [f"studio/images/{KEY}"]
    assert await other.read(KEY) is None
    await other.delete(KEY)
    assert await studio.read(KEY) == PNG


async def test_objects_are_private(moto_s3: MotoS3, bucket: str) -> None:
    storage = storage_in(moto_s3, bucket)

    await storage.save(KEY, PNG, "image/png")

    assert not moto_s3.public_read(bucket, KEY)
    assert moto_s3.anonymous_get(bucket, KEY).status_code == 403


@pytest.mark.parametrize("key", ["", "/abs.png", "a/../b.png", "a//b.png", ".hidden/0.png"])
async def test_keys_outside_the_key_form_are_refused_before_any_request(
    moto_s3: MotoS3, bucket: str, key: str
) -> None:
    storage = storage_in(moto_s3, bucket)

    with pytest.raises(ValueError, match="image key"):
        await storage.save(key, PNG, "image/png")
    with pytest.raises(ValueError, match="image key"):
        await storage.presigned_url(key, expires_in_seconds=60)
    assert moto_s3.keys(bucket) == []


async def test_a_presigned_url_serves_the_image_to_anyone_for_the_time_asked(
    moto_s3: MotoS3, bucket: str
) -> None:
    storage = storage_in(moto_s3, bucket, "images")
    await storage.save(KEY, PNG, "image/png")

    before = datetime.now(UTC).replace(microsecond=0)
    url = await storage.presigned_url(KEY, expires_in_seconds=90)
    async with httpx.AsyncClient() as anyone:  # no credentials, no AWS headers
        response = await anyone.get(url)

    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    signed_at, lasts = expiry_of(url)
    assert lasts == 90
    assert before <= signed_at <= datetime.now(UTC)
    assert signed_for_a_real_store(url)


async def test_a_presigned_url_whose_expiry_is_changed_is_no_longer_genuine(
    moto_s3: MotoS3, bucket: str
) -> None:
    # Moto checks no signature; a real store recomputes it over the expiry too.
    storage = storage_in(moto_s3, bucket)
    url = await storage.presigned_url(KEY, expires_in_seconds=60)

    lengthened = url.replace("X-Amz-Expires=60", "X-Amz-Expires=86400")
    backdated = url.replace("X-Amz-Date=", "X-Amz-Date=1")

    assert signed_for_a_real_store(url)
    assert not signed_for_a_real_store(lengthened)
    assert not signed_for_a_real_store(backdated)
    assert not signed_for_a_real_store(url, secret_access_key="another-secret")


@pytest.mark.parametrize(
    ("asked", "signed"),
    [(0, 1), (-5, 1), (PRESIGNED_URL_MAX_SECONDS + 1, PRESIGNED_URL_MAX_SECONDS)],
)
async def test_a_presigned_url_lasts_at_least_a_second_and_at_most_the_stores_limit(
    moto_s3: MotoS3, bucket: str, asked: int, signed: int
) -> None:
    storage = storage_in(moto_s3, bucket)

    url = await storage.presigned_url(KEY, expires_in_seconds=asked)

    assert expiry_of(url)[1] == signed
    assert signed_for_a_real_store(url)


async def test_urls_for_browsers_are_signed_for_the_public_endpoint(
    moto_s3: MotoS3, bucket: str
) -> None:
    public = f"http://localhost:{moto_s3.port}"
    storage = S3ImageStorage(
        connection(moto_s3.endpoint_url, bucket, "images", public_endpoint_url=public)
    )
    await storage.save(KEY, PNG, "image/png")

    url = await storage.presigned_url(KEY, expires_in_seconds=60)

    assert url.startswith(f"{public}/{bucket}/images/{KEY}?")
    assert signed_for_a_real_store(url)
    async with httpx.AsyncClient() as anyone:
        assert (await anyone.get(url)).content == PNG


async def test_the_check_at_start_writes_and_leaves_nothing(moto_s3: MotoS3, bucket: str) -> None:
    storage = storage_in(moto_s3, bucket, "images")

    await storage.check()

    assert moto_s3.keys(bucket) == []


async def test_the_check_at_start_fails_on_a_missing_bucket(moto_s3: MotoS3) -> None:
    storage = storage_in(moto_s3, "no-such-bucket")

    with pytest.raises(StorageUnavailable, match="no-such-bucket"):
        await storage.check()


async def test_an_unreachable_store_is_a_transient_failure(dead_endpoint: str) -> None:
    storage = S3ImageStorage(connection(dead_endpoint, "images"))

    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await storage.save(KEY, PNG, "image/png")
    with pytest.raises(StorageUnavailable):
        await storage.read(KEY)
    with pytest.raises(StorageUnavailable):
        await storage.delete(KEY)
    with pytest.raises(StorageUnavailable, match=PROBE_KEY):
        await storage.check()
    # A few quick retries within each call; the long backoff is the task queue's.
    assert time.monotonic() - started < 30


STORED = [
    "u1/g1/0.png",
    "u1/g1/0.thumbnail.webp",
    "u1/g10/0.png",
    "u1/g2/0.png",
    "u10/g1/0.png",
    "u2/generation/1.png",
]


async def save_all(storage: ImageStorage, keys: list[str]) -> None:
    await asyncio.gather(*(storage.save(key, PNG, "image/png") for key in keys))


async def keys_of(storage: ImageStorage, prefix: str = "") -> list[str]:
    return sorted([stored.key async for stored in storage.list_objects(prefix)])


def put_in_moto(bucket: str, names: list[str]) -> None:
    """Objects written straight into moto's state (it serves in this process): many at
    once, quickly."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for name in names:
        backend.put_object(bucket, name, PNG)


def put_unsigned(moto_s3: MotoS3, bucket: str, name: str) -> None:
    """An object written past the storage (moto checks no signature)."""
    httpx.put(f"{moto_s3.endpoint_url}/{bucket}/{name}", content=b"stray").raise_for_status()


@pytest.mark.parametrize(
    ("prefix", "listed"),
    [
        ("", STORED),
        ("u1/", ["u1/g1/0.png", "u1/g1/0.thumbnail.webp", "u1/g10/0.png", "u1/g2/0.png"]),
        ("u1/g1/", ["u1/g1/0.png", "u1/g1/0.thumbnail.webp"]),
        ("u1/g1", ["u1/g1/0.png", "u1/g1/0.thumbnail.webp", "u1/g10/0.png"]),
        ("u1", [key for key in STORED if key.startswith("u1")]),
        ("u2/gen", ["u2/generation/1.png"]),
        ("u1/g1/0.", ["u1/g1/0.png", "u1/g1/0.thumbnail.webp"]),
        ("u3/", []),
    ],
)
async def test_objects_are_listed_by_key_prefix(
    moto_s3: MotoS3, bucket: str, prefix: str, listed: list[str]
) -> None:
    storage = storage_in(moto_s3, bucket)
    await save_all(storage, STORED)

    assert await keys_of(storage, prefix) == listed


async def test_listing_is_relative_to_the_storages_prefix_and_stays_inside_it(
    moto_s3: MotoS3, bucket: str
) -> None:
    studio = storage_in(moto_s3, bucket, "studio/images")
    await save_all(studio, STORED)
    for outside in ["u1/g1/0.png", "studio/u1/g1/0.png", "studio/images-old/u1/g1/0.png"]:
        put_unsigned(moto_s3, bucket, outside)

    assert await keys_of(studio) == STORED
    assert await keys_of(studio, "u1/g1/") == ["u1/g1/0.png", "u1/g1/0.thumbnail.webp"]
    assert await keys_of(storage_in(moto_s3, bucket, "studio")) == [
        "images-old/u1/g1/0.png",
        *(f"images/{key}" for key in STORED),
        "u1/g1/0.png",
    ]


async def test_the_probe_and_other_names_that_are_no_keys_are_not_listed(
    moto_s3: MotoS3, bucket: str
) -> None:
    storage = storage_in(moto_s3, bucket, "images")
    await save_all(storage, ["u1/g1/0.png"])
    for stray in [PROBE_KEY, ".trash/u1/0.png", "u1/.cache/0.png", "u1/g1/with%20space.png"]:
        put_unsigned(moto_s3, bucket, f"images/{stray}")

    assert await keys_of(storage) == ["u1/g1/0.png"]
    assert await keys_of(storage, "u1/") == ["u1/g1/0.png"]


async def test_last_modified_is_the_stores_time_in_utc(moto_s3: MotoS3, bucket: str) -> None:
    storage = storage_in(moto_s3, bucket)
    before = datetime.now(UTC).replace(microsecond=0)  # S3 keeps whole seconds
    await save_all(storage, ["u1/g1/0.png"])

    [stored] = [stored async for stored in storage.list_objects()]

    assert stored.last_modified.utcoffset() == timedelta(0)
    assert before <= stored.last_modified <= datetime.now(UTC)


async def test_deleting_a_prefix_leaves_its_siblings_and_is_safe_to_repeat(
    moto_s3: MotoS3, bucket: str
) -> None:
    storage = storage_in(moto_s3, bucket)
    await save_all(storage, STORED)

    assert await storage.delete_prefix("u1/g1/") == 2
    assert await keys_of(storage, "u1/") == ["u1/g10/0.png", "u1/g2/0.png"]
    assert await storage.delete_prefix("u1/") == 2
    assert await storage.delete_prefix("u1/") == 0
    assert moto_s3.keys(bucket) == ["u10/g1/0.png", "u2/generation/1.png"]


async def test_deleting_a_prefix_stays_inside_the_storages_prefix(
    moto_s3: MotoS3, bucket: str
) -> None:
    studio = storage_in(moto_s3, bucket, "studio")
    await save_all(studio, ["u1/g1/0.png", "u2/g1/0.png"])
    await studio.check()
    put_unsigned(moto_s3, bucket, f"studio/{PROBE_KEY}")
    for outside in ["u1/g1/0.png", "studio-old/u1/g1/0.png"]:
        put_unsigned(moto_s3, bucket, outside)

    assert await studio.delete_prefix("u1/") == 1
    assert moto_s3.keys(bucket) == [
        "studio-old/u1/g1/0.png",
        f"studio/{PROBE_KEY}",
        "studio/u2/g1/0.png",
        "u1/g1/0.png",
    ]


async def test_deleting_a_prefix_also_deletes_names_that_are_no_keys_but_counts_images(
    moto_s3: MotoS3, bucket: str
) -> None:
    storage = storage_in(moto_s3, bucket)
    await save_all(storage, ["u1/g1/0.png"])
    put_unsigned(moto_s3, bucket, "u1/g1/with%20space.png")

    assert await storage.delete_prefix("u1/") == 1
    assert moto_s3.keys(bucket) == []


async def test_more_objects_than_one_request_lists_or_deletes(moto_s3: MotoS3, bucket: str) -> None:
    storage = storage_in(moto_s3, bucket)
    many = [f"u1/g{number // 100}/{number % 100}.png" for number in range(1234)]
    put_in_moto(bucket, [*many, "u2/g1/0.png"])

    assert len(await keys_of(storage, "u1/")) == 1234
    assert await storage.delete_prefix("u1/") == 1234
    assert await keys_of(storage) == ["u2/g1/0.png"]


@pytest.mark.parametrize(
    "prefix", ["", "/", "u1", "u1/g1", "u1//", "/u1/", "../", "u1/../", ".hidden/", "u 1/"]
)
async def test_bad_prefixes_to_delete_are_refused_before_any_request(
    dead_endpoint: str, prefix: str
) -> None:
    storage = S3ImageStorage(connection(dead_endpoint, "images"))

    with pytest.raises(ValueError, match="prefix"):
        await storage.delete_prefix(prefix)


@pytest.mark.parametrize("prefix", ["/", "../", "/u1", "u1//", ".hidden", "u1/."])
async def test_prefixes_no_key_can_start_with_are_refused_before_any_request(
    dead_endpoint: str, prefix: str
) -> None:
    storage = S3ImageStorage(connection(dead_endpoint, "images"))

    with pytest.raises(ValueError, match="prefix"):
        await keys_of(storage, prefix)


async def test_listing_or_deleting_on_an_unreachable_store_is_a_transient_failure(
    dead_endpoint: str,
) -> None:
    storage = S3ImageStorage(connection(dead_endpoint, "images"))

    with pytest.raises(StorageUnavailable, match="u1/"):
        await keys_of(storage, "u1/")
    with pytest.raises(StorageUnavailable, match="u1/"):
        await storage.delete_prefix("u1/")
