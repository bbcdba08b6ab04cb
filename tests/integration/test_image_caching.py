"""A browser may cache an image, but never past its URL's expiry."""

import re
import time

import httpx

from domain.images import ImageUrlSigner
from persistence.secrets import shared_secret
from tests.integration.studio import Studio


def max_age(response: httpx.Response) -> int:
    found = re.search(r"max-age=(\d+)", response.headers["cache-control"])
    assert found, response.headers["cache-control"]
    return int(found.group(1))


async def test_an_image_is_cached_no_longer_than_its_url_is_valid(studio: Studio) -> None:
    await studio.trained("alice")
    url = httpx.URL((await studio.generated("alice", "studio portrait"))["images"][0]["url"])
    image_id = url.path.removeprefix("/images/")
    # The server's own secret, with a lifetime of seconds: the URL expires in 10-20 s.
    signer = ImageUrlSigner(await shared_secret(studio.engine, "image_urls"), lifetime_seconds=10)
    short_lived = httpx.URL(studio.origin + signer.url(image_id))

    response = await studio.api.client.get(str(short_lived))

    assert response.status_code == 200
    assert 0 <= max_age(response) <= 20
    assert response.headers["cache-control"].startswith("private,")


async def test_a_fresh_url_is_cached_for_its_remaining_life(studio: Studio) -> None:
    await studio.trained("alice")
    url = httpx.URL((await studio.generated("alice", "studio portrait"))["images"][0]["url"])

    before = time.time()
    response = await studio.api.client.get(str(url))

    assert max_age(response) <= int(url.params["expires"]) - before
    # URLs are valid for one to two hours; the cache for no longer than that.
    assert 3600 - 60 <= max_age(response) <= 7200
