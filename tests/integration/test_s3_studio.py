"""The studio with STORAGE_URL=s3://...: images kept in the bucket, delivered by presigned
redirects; a store that is down delays a generation and loses nothing."""

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.images import ImageUrlSigner
from persistence.secrets import shared_secret
from persistence.task_queue import STORE_OUTPUTS
from server.runtime import StorageUnusable, open_runtime
from tests.fake_replicate import FakeReplicate
from tests.integration.api import token_for
from tests.integration.harness import make_settings
from tests.integration.studio import GENERATION_UPDATED, local, open_studio
from tests.integration.ws import subscribe
from tests.s3 import MotoS3, signature_matches
from tests.task_queue import empty_queue, until

DOWNLOAD_ATTEMPTS = f"SELECT attempts FROM pgqueuer WHERE entrypoint = '{STORE_OUTPUTS}'"  # noqa: S608


def max_age(response: httpx.Response) -> int:
    found = re.search(r"max-age=(\d+)", response.headers["cache-control"])
    assert found, response.headers["cache-control"]
    return int(found.group(1))


def presigned_expiry(location: str) -> int:
    return int(parse_qs(urlsplit(location).query)["X-Amz-Expires"][0])


async def test_images_are_kept_in_the_bucket_and_served_by_a_presigned_redirect(
    database_url: str,
    data_dir: Path,
    engine: AsyncEngine,
    fake_replicate: FakeReplicate,
    moto_s3: MotoS3,
    bucket: str,
) -> None:
    s3 = moto_s3.settings(bucket, "studio")
    async with open_studio(database_url, data_dir, engine, fake_replicate, **s3) as studio:
        await studio.trained("alice")
        generation = await studio.generated("alice", "on a rooftop at dusk")
        await studio.fake.expire_outputs(studio.fake.predictions[-1].id)
        user_id = await studio.user_id("alice")
        url = generation["images"][0]["url"]
        before = time.time()
        redirect = await studio.api.client.get(url)
        async with httpx.AsyncClient() as browser:  # another origin, no credentials
            image = await browser.get(url, follow_redirects=True)

    keys = [f"studio/{user_id}/{local(generation['id'])}/{n}.png" for n in range(3)]
    assert generation["status"] == "SUCCEEDED"
    assert [key for key in moto_s3.keys(bucket) if key.endswith(".png")] == keys
    assert not (data_dir / "images").exists()
    assert redirect.status_code == 307
    location = redirect.headers["location"]
    assert location.startswith(f"{moto_s3.endpoint_url}/{bucket}/{keys[0]}?")
    assert signature_matches(location)
    # Neither the redirect nor the store's URL outlives ours (valid one to two hours).
    assert max_age(redirect) == presigned_expiry(location)
    assert 3600 - 60 <= max_age(redirect) <= int(httpx.URL(url).params["expires"]) - before
    assert redirect.headers["cache-control"].startswith("private,")
    assert redirect.headers["referrer-policy"] == "no-referrer"
    assert redirect.content == b""
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


async def test_a_short_lived_url_redirects_to_an_equally_short_lived_one(
    database_url: str,
    data_dir: Path,
    engine: AsyncEngine,
    fake_replicate: FakeReplicate,
    moto_s3: MotoS3,
    bucket: str,
) -> None:
    s3 = moto_s3.settings(bucket)
    async with open_studio(database_url, data_dir, engine, fake_replicate, **s3) as studio:
        await studio.trained("alice")
        url = httpx.URL((await studio.generated("alice", "studio portrait"))["images"][0]["url"])
        image_id = url.path.removeprefix("/images/")
        # The server's own secret, with a lifetime of seconds: the URL expires in 10-20 s.
        secret = await shared_secret(studio.engine, "image_urls")
        short_lived = studio.origin + ImageUrlSigner(secret, lifetime_seconds=10).url(image_id)
        forged = short_lived.replace("signature=", "signature=0")

        redirect = await studio.api.client.get(short_lived)
        refused = await studio.api.client.get(forged)

    assert redirect.status_code == 307
    assert 0 <= max_age(redirect) <= 20
    assert presigned_expiry(redirect.headers["location"]) == max(max_age(redirect), 1)
    assert refused.status_code == 403
    assert "location" not in refused.headers


async def test_a_store_down_while_downloading_delays_the_generation_and_loses_nothing(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> None:
    store = MotoS3().start()
    bucket = store.new_bucket()
    await empty_queue(engine)
    try:
        async with open_studio(
            database_url, data_dir, engine, fake_replicate, **store.settings(bucket)
        ) as studio:
            await studio.trained("alice")
            body = await studio.maya("alice", "by the sea")
            generation_id = body["data"]["generateMaya"]["generation"]["id"]
            store.stop()
            async with subscribe(
                studio.origin, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
            ) as subscription:
                await subscription.next()
                await fake_replicate.succeed_prediction(fake_replicate.predictions[-1].id)
                # The download failed, and is queued again for later.
                await until(
                    engine,
                    DOWNLOAD_ATTEMPTS,
                    lambda rows: any(row["attempts"] >= 1 for row in rows),
                )
                meanwhile = await studio.generation("alice", generation_id)
                images_meanwhile = await studio.count("generated_images")
                store.start()  # the same port, the same bucket: back again
                final = await subscription.payloads_until_complete()
        stored = [key for key in store.keys(bucket) if key.endswith(".png")]
    finally:
        store.stop()

    assert meanwhile["status"] == "PROCESSING"
    assert images_meanwhile == 0
    done = final[-1]["data"]["generationUpdated"]
    assert done["status"] == "SUCCEEDED"
    assert len(done["images"]) == 3
    assert len(stored) == 3


@pytest.mark.parametrize("reach", ["dead port", "missing bucket"])
async def test_a_server_whose_bucket_takes_no_write_refuses_to_start(
    database_url: str, data_dir: Path, engine: AsyncEngine, moto_s3: MotoS3, reach: str
) -> None:
    s3 = moto_s3.settings("no-such-bucket")
    if reach == "dead port":
        store = MotoS3().start()
        s3 = store.settings(store.new_bucket())
        store.stop()
    settings = make_settings(database_url, data_dir, **s3)

    with pytest.raises(StorageUnusable, match="STORAGE_URL=s3://") as refused:
        async with open_runtime(settings, database_url, migrate_on_start=False):
            pytest.fail("served without a usable bucket")

    assert s3["aws_endpoint_url"] in str(refused.value)
