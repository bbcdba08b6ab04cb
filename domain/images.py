"""Generated images as the domain sees them: fetched outputs, their storage, signed URLs.

Replicate's delivery URLs expire, so each output is fetched once (`OutputFetcher`), kept
for good (`ImageStorage`) and served by this server behind signed, expiring URLs
(`ImageUrlSigner`).
"""

import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

ALLOWED_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})

_IMAGE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_EXPIRES = re.compile(r"[0-9]{1,15}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class FetchedImage:
    content: bytes
    content_type: str  # one of ALLOWED_IMAGE_TYPES
    width: int
    height: int


class OutputFetchError(Exception):
    """Base of the ways fetching a provider's output can fail."""


class OutputGone(OutputFetchError):
    """The provider no longer has the file (404/410): do not retry."""


class OutputUnavailable(OutputFetchError):
    """A transient failure (network, 5xx, timeout): retry later."""


class OutputInvalid(OutputFetchError):
    """Not an allowed image, not the expected type, or too large: do not retry."""


class OutputRefused(OutputInvalid):
    """The URL, or a redirect, leads off the hosts outputs may come from: do not retry."""


class OutputFetcher(Protocol):
    async def fetch(self, url: str, *, expected_type: str | None = None) -> FetchedImage:
        """The image at `url`; raises OutputGone, OutputUnavailable or OutputInvalid
        (OutputRefused, when `url` or a redirect leads off the allowed hosts)."""
        ...


@dataclass(frozen=True, slots=True)
class ImageDelivery:
    """How a stored image reaches whoever holds its signed URL: its bytes, sent by this
    server, or a short-lived URL of the store itself (then no byte passes through us)."""

    content_type: str
    content: bytes | None = None
    redirect_to: str | None = None


class ImageStorage(Protocol):
    async def save(self, key: str, content: bytes, content_type: str) -> None:
        """Idempotent: saving the same key again overwrites it atomically."""
        ...

    async def read(self, key: str) -> bytes | None:
        """None when absent."""
        ...

    async def delete(self, key: str) -> None:
        """Absent is fine."""
        ...

    async def presigned_url(self, key: str, *, expires_in_seconds: int) -> str | None:
        """A URL of the store serving the object to anyone for that long (no credentials),
        or None when the store has none of its own (local files: this server sends them)."""
        ...


class ImageUrlSigner:
    """Signed, expiring URLs on this server for stored images.

    `/images/<id>?expires=<epoch>&signature=<hex>`, the signature being HMAC-SHA256 over
    f"{image_id}.{expires}" with the server's secret. So that browsers can cache them, URLs
    stay identical within a window of `lifetime_seconds`: the expiry is the end of the
    current window plus one more lifetime, leaving each URL valid for between one and two
    lifetimes.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        lifetime_seconds: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("The image URL secret must not be empty")
        if lifetime_seconds <= 0:
            raise ValueError("lifetime_seconds must be positive")
        self._secret = secret
        self._lifetime = lifetime_seconds
        self._clock = clock

    def url(self, image_id: str) -> str:
        """A relative URL to the image; ValueError for an id outside [A-Za-z0-9-]{1,64}."""
        if not _valid_id(image_id):
            raise ValueError(f"Not a valid image id: {image_id!r}")
        expires = str(self._expiry())
        return f"/images/{image_id}?expires={expires}&signature={self._sign(image_id, expires)}"

    def verify(self, image_id: str, expires: str | None, signature: str | None) -> bool:
        """Whether a URL's parts are genuine and unexpired; never raises."""
        if expires is None or signature is None or not _valid_id(image_id):
            return False
        if not (_EXPIRES.fullmatch(expires) and _SIGNATURE.fullmatch(signature)):
            return False
        expected = self._sign(image_id, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return False
        return self._clock() <= int(expires)

    def seconds_left(self, expires: str) -> int:
        """Whole seconds until a verified URL's `expires`, never more (0 once past)."""
        return max(int(expires) - math.ceil(self._clock()), 0)

    def _expiry(self) -> int:
        now = math.ceil(self._clock())
        window_end = -(-now // self._lifetime) * self._lifetime  # rounded up to a multiple
        return window_end + self._lifetime

    def _sign(self, image_id: str, expires: str) -> str:
        message = f"{image_id}.{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def _valid_id(image_id: str) -> bool:
    return _IMAGE_ID.fullmatch(image_id) is not None
