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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

ALLOWED_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})

_IMAGE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_EXPIRES = re.compile(r"[0-9]{1,15}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class ImageSize(StrEnum):
    """The sizes an image is served in: ORIGINAL is the stored file byte for byte, the
    others WebP renditions made from it (domain/generation/renditions.py)."""

    THUMBNAIL = "thumbnail"
    PREVIEW = "preview"
    ORIGINAL = "original"


def image_size_from_query(value: str | None) -> ImageSize | None:
    """A URL's `size` parameter: absent is ORIGINAL, anything unknown None."""
    if value is None:
        return ImageSize.ORIGINAL
    try:
        return ImageSize(value)
    except ValueError:
        return None


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


# The longest a store signs a URL for (SigV4's limit: seven days).
PRESIGNED_URL_MAX_SECONDS = 7 * 24 * 3600


class StorageUnavailable(Exception):
    """The store could not be reached or refused the request: nothing was changed there
    that matters; try again later (a queued task is retried with backoff)."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    last_modified: datetime  # timezone-aware UTC


class ImageStorage(Protocol):
    """Stored images by key; any method may raise StorageUnavailable."""

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
        """A URL of the store serving the object to anyone for that long (no credentials;
        at most PRESIGNED_URL_MAX_SECONDS), or None when the store has none of its own
        (local files: this server sends them)."""
        ...

    def list_objects(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        """Every object whose key starts with `prefix` (a key prefix such as "<user id>/";
        "" for all), in no particular order, never the store's own dot-prefixed names (the
        start probe, temporary files) nor any other name that is not a valid key.
        ValueError for a prefix no key could start with ("../")."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Deletes every object under `prefix` (which must be non-empty and end with "/",
        else ValueError); how many were deleted. Safe to repeat."""
        ...


class ImageUrlSigner:
    """Signed, expiring URLs on this server for stored images.

    `/images/<id>?expires=<epoch>&signature=<hex>`, the signature being HMAC-SHA256 over
    f"{image_id}.{expires}" with the server's secret; a rendition's URL starts
    `/images/<id>?size=<size>&` and its signature covers f"{image_id}.{expires}.{size}", so
    no URL can be turned into another size's (and URLs without a size stay ORIGINAL's).
    So that browsers can cache them, URLs
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

    def url(self, image_id: str, size: ImageSize = ImageSize.ORIGINAL) -> str:
        """A relative URL to the image; ValueError for an id outside [A-Za-z0-9-]{1,64}."""
        if not _valid_id(image_id):
            raise ValueError(f"Not a valid image id: {image_id!r}")
        expires = str(self._expiry())
        signature = self._sign(image_id, expires, size)
        sized = "" if size is ImageSize.ORIGINAL else f"size={size.value}&"
        return f"/images/{image_id}?{sized}expires={expires}&signature={signature}"

    def verify(
        self,
        image_id: str,
        expires: str | None,
        signature: str | None,
        size: ImageSize = ImageSize.ORIGINAL,
    ) -> bool:
        """Whether a URL's parts are genuine and unexpired; never raises."""
        if expires is None or signature is None or not _valid_id(image_id):
            return False
        if not (_EXPIRES.fullmatch(expires) and _SIGNATURE.fullmatch(signature)):
            return False
        expected = self._sign(image_id, expires, size)
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

    def _sign(self, image_id: str, expires: str, size: ImageSize) -> str:
        sized = "" if size is ImageSize.ORIGINAL else f".{size.value}"
        message = f"{image_id}.{expires}{sized}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def _valid_id(image_id: str) -> bool:
    return _IMAGE_ID.fullmatch(image_id) is not None
