"""`ImageStorage` in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Google Cloud
Storage's S3 interface), on obstore.

Objects are private (no ACL is ever set); whoever holds one of our signed image URLs is
redirected to a presigned GET of the store, valid no longer than that URL.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

from domain.images import PRESIGNED_URL_MAX_SECONDS, StorageUnavailable, StoredObject
from image_storage.keys import check_key, check_prefix, check_prefix_to_delete, is_key

if TYPE_CHECKING:
    from obstore import ObjectMeta
    from obstore.store import ClientConfig, RetryConfig, S3Config

# Within one call, a few quick retries; the task queue retries a failed download for an
# hour with a backoff of its own.
_RETRIES: "RetryConfig" = {
    "max_retries": 3,
    "retry_timeout": timedelta(seconds=20),
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2)},
}
_CONNECT_TIMEOUT = timedelta(seconds=5)
_REQUEST_TIMEOUT = timedelta(seconds=60)
# The check at start answers quickly or not at all.
_CHECK_TIMEOUT = timedelta(seconds=5)
# Written and deleted by `check`; a dot-prefixed name is never an image's key.
PROBE_KEY = ".sselfie-probe"
# As many as one listing request returns and one DeleteObjects request takes.
_BATCH = 1000


@dataclass(frozen=True)
class S3Connection:
    """A bucket and how to reach it. Unset values come from the environment, as AWS's own
    tools read it (web identity, container and instance credentials included)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None  # None: AWS's endpoint for the region
    # Where browsers reach the store, when not at endpoint_url (a MinIO in a private network).
    public_endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None


class S3ImageStorage:
    """Each key under the connection's prefix, in its bucket."""

    def __init__(self, connection: S3Connection) -> None:
        self._bucket = connection.bucket
        self._store = _store(connection, connection.endpoint_url, _RETRIES, _REQUEST_TIMEOUT)
        self._signer = self._store
        if connection.public_endpoint_url is not None:
            # A signature covers the host: URLs for browsers are signed for theirs.
            self._signer = _store(
                connection, connection.public_endpoint_url, _RETRIES, _REQUEST_TIMEOUT
            )
        self._checker = _store(
            connection, connection.endpoint_url, {"max_retries": 0}, _CHECK_TIMEOUT
        )

    async def save(self, key: str, content: bytes, content_type: str) -> None:
        check_key(key)
        with _store_errors("save", key):
            await obstore.put_async(
                self._store, key, content, attributes={"Content-Type": content_type}
            )

    async def read(self, key: str) -> bytes | None:
        check_key(key)
        with _store_errors("read", key):
            try:
                result = await obstore.get_async(self._store, key)
            except FileNotFoundError:
                return None
            return bytes(await result.bytes_async())

    async def delete(self, key: str) -> None:
        check_key(key)
        with _store_errors("delete", key):
            await obstore.delete_async(self._store, key)

    async def presigned_url(self, key: str, *, expires_in_seconds: int) -> str:
        """A GET of the object for `expires_in_seconds` (at least 1 s, at most the store's
        longest), signed here without a request to the store."""
        check_key(key)
        seconds = min(max(expires_in_seconds, 1), PRESIGNED_URL_MAX_SECONDS)
        with _store_errors("sign a URL for", key):
            return await obstore.sign_async(self._signer, "GET", key, timedelta(seconds=seconds))

    async def list_objects(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        check_prefix(prefix)
        async for batch in self._listed(prefix):
            for meta in batch:
                if is_key(meta["path"]):
                    yield StoredObject(meta["path"], meta["last_modified"])

    async def delete_prefix(self, prefix: str) -> int:
        """Deletes a listed batch at a time, whatever the names under the prefix."""
        check_prefix_to_delete(prefix)
        deleted = 0
        async for batch in self._listed(prefix):
            paths = [meta["path"] for meta in batch]
            if not paths:
                continue
            with _store_errors("delete under", prefix):
                await obstore.delete_async(self._store, paths)
            deleted += sum(is_key(path) for path in paths)
        return deleted

    async def _listed(self, prefix: str) -> AsyncIterator[list["ObjectMeta"]]:
        """The objects whose paths start with `prefix`, in batches. obstore lists by whole
        segments ("a/gen" is "a/gen/..."), so the prefix's last, partial one is matched here."""
        whole_segments = prefix.rpartition("/")[0]
        stream = obstore.list(self._store, whole_segments or None, chunk_size=_BATCH)
        with _store_errors("list", prefix):
            async for batch in stream:
                yield [meta for meta in batch if meta["path"].startswith(prefix)]

    async def check(self) -> None:
        """StorageUnavailable unless the bucket takes a write and a delete, within a few
        seconds, with these credentials: what storing images needs."""
        with _store_errors(f"write to bucket {self._bucket!r}:", PROBE_KEY):
            await obstore.put_async(self._checker, PROBE_KEY, b"")
            await obstore.delete_async(self._checker, PROBE_KEY)


def _store(
    connection: S3Connection,
    endpoint_url: str | None,
    retries: "RetryConfig",
    timeout: timedelta,
) -> S3Store:
    config: S3Config = {}
    if endpoint_url is not None:
        config["endpoint"] = endpoint_url
    if connection.region is not None:
        config["region"] = connection.region
    if connection.access_key_id is not None:
        config["access_key_id"] = connection.access_key_id
    if connection.secret_access_key is not None:
        config["secret_access_key"] = connection.secret_access_key
    if connection.session_token is not None:
        config["session_token"] = connection.session_token
    client: ClientConfig = {
        "allow_http": endpoint_url is not None and endpoint_url.startswith("http://"),
        "connect_timeout": min(_CONNECT_TIMEOUT, timeout),
        "timeout": timeout,
    }
    return S3Store(
        connection.bucket,
        prefix=connection.prefix or None,
        config=config,
        client_options=client,
        retry_config=retries,
    )


@contextmanager
def _store_errors(action: str, key: str) -> Iterator[None]:
    """The store's failures as the domain's transient StorageUnavailable."""
    try:
        yield
    except (BaseError, OSError) as error:
        # obstore's messages go on with a debug dump; its first line says what failed.
        reason = str(error).split("\n", 1)[0]
        raise StorageUnavailable(f"Could not {action} {key!r}: {reason}") from error
