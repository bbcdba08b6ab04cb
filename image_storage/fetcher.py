"""`OutputFetcher` over HTTP: a provider's output, from an allowed host, checked to be the
image it claims to be."""

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import httpx
from PIL import Image

from domain.images import (
    ALLOWED_IMAGE_TYPES,
    FetchedImage,
    OutputGone,
    OutputInvalid,
    OutputRefused,
    OutputUnavailable,
)
from image_storage.hosts import OutputHosts, Resolve, system_resolve
from image_storage.transport import checked_client

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000

_PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
_GONE_STATUSES = frozenset({404, 410})
# Images gain nothing from compression; asking for none keeps chunks close to the wire's.
_HEADERS = {"Accept-Encoding": "identity"}


class HttpOutputFetcher:
    """Downloads with a GET of the given URL (following at most five redirects).

    The URL and every redirect must lead to one of `hosts` (OutputRefused otherwise, before
    any request to it); the client is expected to check the addresses it connects to, as
    `open_output_fetcher`'s does. The body is streamed and abandoned as soon as it exceeds
    `max_bytes`; the Content-Type must be an allowed image type (and `expected_type` when
    given); the bytes must then decode, in full, as that type with at most `max_pixels`
    pixels. `timeout` overrides the client's own. Give it a client without credentials:
    they would reach the file's host.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        hosts: OutputHosts,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: httpx.Timeout | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self._http = http
        self._hosts = hosts
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._max_pixels = max_pixels

    async def fetch(self, url: str, *, expected_type: str | None = None) -> FetchedImage:
        if expected_type is not None and expected_type not in ALLOWED_IMAGE_TYPES:
            raise ValueError(f"Not an allowed image type: {expected_type!r}")
        try:
            content, content_type = await self._download(_parse_url(url), expected_type)
        except OutputRefused as refusal:
            log.warning("refused to fetch an output: %s", refusal)
            raise
        width, height = await asyncio.to_thread(
            _dimensions, content, content_type, self._max_pixels
        )
        return FetchedImage(content, content_type, width, height)

    async def _download(self, url: httpx.URL, expected_type: str | None) -> tuple[bytes, str]:
        try:
            async with self._open(url) as response:
                _check_status(response)
                content_type = _content_type(response, expected_type)
                self._check_declared_length(response)
                return await self._read_limited(response), content_type
        except httpx.HTTPError as error:
            raise OutputUnavailable(f"Could not fetch the output: {error}") from error

    @asynccontextmanager
    async def _open(self, url: httpx.URL) -> AsyncIterator[httpx.Response]:
        """The final response, redirects followed here to bound them per request."""
        timeout = httpx.USE_CLIENT_DEFAULT if self._timeout is None else self._timeout
        request = self._http.build_request("GET", url, headers=_HEADERS, timeout=timeout)
        response = await self._send(request)
        try:
            redirects = 0
            while response.next_request is not None:
                if redirects == MAX_REDIRECTS:
                    raise OutputUnavailable(f"More than {MAX_REDIRECTS} redirects")
                await response.aclose()
                response = await self._send(response.next_request)
                redirects += 1
            yield response
        finally:
            await response.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        self._hosts.check_host(request.url.raw_host.decode("ascii"))
        return await self._http.send(request, stream=True, follow_redirects=False)

    def _check_declared_length(self, response: httpx.Response) -> None:
        declared: str = response.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self._max_bytes:
            raise OutputInvalid(f"The output is larger than {self._max_bytes} bytes")

    async def _read_limited(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if received > self._max_bytes:
                raise OutputInvalid(f"The output is larger than {self._max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


@asynccontextmanager
async def open_output_fetcher(
    hosts: Iterable[str],
    *,
    http_timeout: httpx.Timeout,
    limits: httpx.Limits,
    resolve: Resolve = system_resolve,
) -> AsyncIterator[HttpOutputFetcher]:
    """A fetcher from `hosts` (`*.suffix` for subdomains) over a client of its own, which
    connects only to addresses it has checked: public ones, or any for a host listed
    exactly."""
    allowed = OutputHosts(hosts)
    async with checked_client(
        allowed, http_timeout=http_timeout, limits=limits, resolve=resolve
    ) as http:
        yield HttpOutputFetcher(http, allowed)


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise OutputInvalid(f"Not a valid URL: {error}") from error
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise OutputInvalid("Not an http(s) URL")
    return parsed


def _check_status(response: httpx.Response) -> None:
    if response.status_code in _GONE_STATUSES:
        raise OutputGone(f"The provider no longer has the output ({response.status_code})")
    if not response.is_success:
        raise OutputUnavailable(f"The provider answered {response.status_code}")


def _content_type(response: httpx.Response, expected_type: str | None) -> str:
    header: str = response.headers.get("content-type", "")
    media_type = header.split(";", 1)[0].strip().lower()
    if media_type not in ALLOWED_IMAGE_TYPES:
        raise OutputInvalid(f"Not an allowed image type: {media_type or 'none'}")
    if expected_type is not None and media_type != expected_type:
        raise OutputInvalid(f"Expected {expected_type}, got {media_type}")
    return media_type


def _dimensions(content: bytes, content_type: str, max_pixels: int) -> tuple[int, int]:
    """Width and height once the bytes decode in full as `content_type`; blocking."""
    pillow_format = _PILLOW_FORMATS[content_type]
    with _open_image(content, pillow_format) as image:
        width, height = image.size
        # Checked from the header, before any pixel is decoded. (Pillow's own bomb check
        # warns through the process-wide, thread-unsafe warnings filters; this doesn't.)
        if width * height > max_pixels:
            raise OutputInvalid(f"The image has more than {max_pixels} pixels")
        _load(image)
        if image.format != pillow_format:
            raise OutputInvalid(f"The image is {image.format}, not {pillow_format}")
        return width, height


# Pillow reports malformed input through many exception types; any of them means invalid.


def _open_image(content: bytes, pillow_format: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(content), formats=[pillow_format])
    except Exception as error:
        raise OutputInvalid(f"Not a valid {pillow_format} image: {error}") from error


def _load(image: Image.Image) -> None:
    try:
        image.load()
    except Exception as error:
        raise OutputInvalid(f"The image does not decode: {error}") from error
