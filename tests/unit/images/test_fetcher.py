"""Fetching a prediction's output from the provider's delivery host."""

import io
from collections.abc import AsyncIterable, AsyncIterator, Iterator

import httpx
import pytest
import respx
from PIL import Image

from domain.images import OutputFetcher, OutputGone, OutputInvalid, OutputUnavailable
from image_storage import HttpOutputFetcher, OutputHosts

HOST = "https://replicate.delivery.test"
HOSTS = OutputHosts(["replicate.delivery.test", "*.replicate.delivery.test"])
URL = f"{HOST}/xezq/abc123/out-0.png"
PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


def image_bytes(content_type: str = "image/png", size: tuple[int, int] = (48, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (214, 69, 65)).save(buffer, format=PILLOW_FORMATS[content_type])
    return buffer.getvalue()


def image_response(
    content: bytes | AsyncIterable[bytes], content_type: str = "image/png"
) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"Content-Type": content_type})


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def fetcher(http: httpx.AsyncClient) -> OutputFetcher:
    return HttpOutputFetcher(http, HOSTS)


@pytest.fixture
def delivery() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=HOST, assert_all_called=False) as router:
        yield router


# --- images that arrive ---------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "image/webp"])
async def test_an_image_is_fetched_with_its_size(
    fetcher: OutputFetcher, delivery: respx.MockRouter, content_type: str
) -> None:
    content = image_bytes(content_type, (48, 32))
    delivery.get(URL).mock(return_value=image_response(content, content_type))

    image = await fetcher.fetch(URL, expected_type=content_type)

    assert image.content == content
    assert image.content_type == content_type
    assert (image.width, image.height) == (48, 32)


async def test_content_type_parameters_and_case_are_ignored(
    fetcher: OutputFetcher, delivery: respx.MockRouter
) -> None:
    delivery.get(URL).mock(return_value=image_response(image_bytes(), "Image/PNG; charset=x"))

    image = await fetcher.fetch(URL, expected_type="image/png")

    assert image.content_type == "image/png"


async def test_redirects_are_followed(fetcher: OutputFetcher, delivery: respx.MockRouter) -> None:
    hops = [f"/hop-{n}" for n in range(4)]  # five redirects in all
    delivery.get(URL).mock(return_value=httpx.Response(302, headers={"Location": hops[0]}))
    for here, there in zip(hops, [*hops[1:], "/final.png"], strict=True):
        delivery.get(here).mock(return_value=httpx.Response(307, headers={"Location": there}))
    delivery.get("/final.png").mock(return_value=image_response(image_bytes()))

    image = await fetcher.fetch(URL)

    assert (image.width, image.height) == (48, 32)


async def test_more_than_five_redirects_are_not_followed(
    fetcher: OutputFetcher, delivery: respx.MockRouter
) -> None:
    loop = delivery.get(URL).mock(return_value=httpx.Response(302, headers={"Location": URL}))

    with pytest.raises(OutputUnavailable, match="redirects"):
        await fetcher.fetch(URL)
    assert loop.call_count == 6


async def test_the_given_timeout_is_used(
    http: httpx.AsyncClient, delivery: respx.MockRouter
) -> None:
    route = delivery.get(URL).mock(return_value=image_response(image_bytes()))
    fetcher = HttpOutputFetcher(http, HOSTS, timeout=httpx.Timeout(7.0, connect=2.0))

    await fetcher.fetch(URL)

    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout == {"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}


# --- outputs that are gone or unavailable ---------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
async def test_a_missing_file_is_gone(
    fetcher: OutputFetcher, delivery: respx.MockRouter, status: int
) -> None:
    delivery.get(URL).mock(return_value=httpx.Response(status, text="Not found"))

    with pytest.raises(OutputGone):
        await fetcher.fetch(URL)


@pytest.mark.parametrize("status", [500, 502, 503, 429, 403])
async def test_other_failures_are_unavailable(
    fetcher: OutputFetcher, delivery: respx.MockRouter, status: int
) -> None:
    delivery.get(URL).mock(return_value=httpx.Response(status, text="try later"))

    with pytest.raises(OutputUnavailable, match=str(status)):
        await fetcher.fetch(URL)


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
)
async def test_network_errors_are_unavailable(
    fetcher: OutputFetcher, delivery: respx.MockRouter, error: httpx.HTTPError
) -> None:
    delivery.get(URL).mock(side_effect=error)

    with pytest.raises(OutputUnavailable) as raised:
        await fetcher.fetch(URL)
    assert raised.value.__cause__ is error


async def test_an_error_while_streaming_is_unavailable(
    fetcher: OutputFetcher, delivery: respx.MockRouter
) -> None:
    async def broken_body() -> AsyncIterator[bytes]:
        yield image_bytes()[:100]
        raise httpx.ReadError("connection reset")

    delivery.get(URL).mock(return_value=image_response(broken_body()))

    with pytest.raises(OutputUnavailable, match="connection reset"):
        await fetcher.fetch(URL)


# --- outputs that are not the image they should be ------------------------------------


@pytest.mark.parametrize("content_type", ["text/html", "image/gif", "image/svg+xml", ""])
async def test_a_disallowed_content_type_is_invalid(
    fetcher: OutputFetcher, delivery: respx.MockRouter, content_type: str
) -> None:
    delivery.get(URL).mock(return_value=image_response(image_bytes(), content_type))

    with pytest.raises(OutputInvalid, match="allowed image type"):
        await fetcher.fetch(URL)


async def test_a_missing_content_type_is_invalid(
    fetcher: OutputFetcher, delivery: respx.MockRouter
) -> None:
    delivery.get(URL).mock(return_value=httpx.Response(200, content=image_bytes()))

    with pytest.raises(OutputInvalid, match="allowed image type"):
        await fetcher.fetch(URL)


async def test_bytes_of_another_format_are_invalid(
    fetcher: OutputFetcher, delivery: respx.MockRouter
) -> None:
    delivery.get(URL).mock(return_value=image_response(image_bytes("image/jpeg"), "image/png"))

    with pytest.raises(OutputInvalid, match="PNG"):
        await fetcher.fetch(URL)


async def test_not_an_image_at_all_is_invalid(
    fetcher: OutputFetcher, delivery: respx.MockRouter
) -> None:
    delivery.get(URL).mock(return_value=image_response(b"<html>surprise</html>", "image/webp"))

    with pytest.raises(OutputInvalid, match="WEBP"):
        await fetcher.fetch(URL)


async def test_another_type_than_expected_is_invalid(
    fetcher: OutputFetcher, delivery: respx.MockRouter
) -> None:
    content = image_bytes("image/webp")
    delivery.get(URL).mock(return_value=image_response(content, "image/webp"))

    with pytest.raises(OutputInvalid, match="Expected image/png"):
        await fetcher.fetch(URL, expected_type="image/png")


async def test_expecting_a_disallowed_type_is_a_programming_error(
    fetcher: OutputFetcher, delivery: respx.MockRouter
) -> None:
    route = delivery.get(URL).mock(return_value=image_response(image_bytes()))

    with pytest.raises(ValueError, match="image/gif"):
        await fetcher.fetch(URL, expected_type="image/gif")
    assert not route.called


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "image/webp"])
async def test_a_truncated_image_is_invalid(
    fetcher: OutputFetcher, delivery: respx.MockRouter, content_type: str
) -> None:
    # Noise, so that the pixel data is most of the file and cutting it truncates pixels.
    image = Image.effect_noise((256, 256), 64).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=PILLOW_FORMATS[content_type])
    content = buffer.getvalue()
    delivery.get(URL).mock(return_value=image_response(content[: len(content) // 2], content_type))

    with pytest.raises(OutputInvalid):
        await fetcher.fetch(URL)


async def test_too_many_pixels_is_invalid(
    http: httpx.AsyncClient, delivery: respx.MockRouter
) -> None:
    delivery.get(URL).mock(return_value=image_response(image_bytes(size=(100, 100))))
    fetcher = HttpOutputFetcher(http, HOSTS, max_pixels=100 * 100 - 1)

    with pytest.raises(OutputInvalid, match="pixels"):
        await fetcher.fetch(URL)


@pytest.mark.parametrize("url", ["ftp://replicate.delivery.test/a.png", "/relative.png", "::"])
async def test_a_url_that_is_not_http_is_invalid(fetcher: OutputFetcher, url: str) -> None:
    with pytest.raises(OutputInvalid):
        await fetcher.fetch(url)


# --- size -----------------------------------------------------------------------------


async def test_exactly_max_bytes_is_accepted(
    http: httpx.AsyncClient, delivery: respx.MockRouter
) -> None:
    content = image_bytes()
    delivery.get(URL).mock(return_value=image_response(content))

    image = await HttpOutputFetcher(http, HOSTS, max_bytes=len(content)).fetch(URL)

    assert image.content == content


async def test_a_declared_length_over_the_limit_is_invalid_before_reading(
    http: httpx.AsyncClient, delivery: respx.MockRouter
) -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        sent += 1
        yield image_bytes()

    response = image_response(body())
    response.headers["Content-Length"] = str(10 * 1024 + 1)
    delivery.get(URL).mock(return_value=response)

    with pytest.raises(OutputInvalid, match="larger than 10240 bytes"):
        await HttpOutputFetcher(http, HOSTS, max_bytes=10 * 1024).fetch(URL)
    assert sent == 0


async def test_a_streamed_body_over_the_limit_is_abandoned_early(
    http: httpx.AsyncClient, delivery: respx.MockRouter
) -> None:
    chunk, chunks = b"\0" * 1024, 1000
    sent = 0

    async def endless_png() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        nonlocal sent
        for _ in range(chunks):
            sent += 1
            yield chunk

    delivery.get(URL).mock(return_value=image_response(endless_png()))

    with pytest.raises(OutputInvalid, match="larger than 10240 bytes"):
        await HttpOutputFetcher(http, HOSTS, max_bytes=10 * 1024).fetch(URL)
    assert sent <= 11
