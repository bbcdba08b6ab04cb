"""`ImageStorage` on the local filesystem: one file per key under a root directory."""

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

from domain.images import StoredObject
from image_storage.keys import check_key, check_prefix, check_prefix_to_delete, is_key


class LocalImageStorage:
    """Files under `root`, at the key's relative path; writes are atomic and fsynced.

    Keys are relative slash-separated paths such as "<user id>/<generation id>/0.png". No
    segment may be empty or start with a dot (which rules out "." and ".." and keeps the
    dot-prefixed names of in-progress writes apart from stored images).
    """

    def __init__(self, root: Path) -> None:
        self._root = root

    async def save(self, key: str, content: bytes, content_type: str) -> None:
        await asyncio.to_thread(_write_atomically, self._path(key), content)

    async def read(self, key: str) -> bytes | None:
        return await asyncio.to_thread(_read, self._path(key))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(_delete, self._path(key))

    async def presigned_url(self, key: str, *, expires_in_seconds: int) -> None:
        """Local files have no URL of their own: this server sends them."""
        return None

    async def list_objects(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        """Walked a directory at a time off the event loop."""
        check_prefix(prefix)
        directory = prefix.rpartition("/")[0]
        batches = _stored_files(self._root, self._directory(directory), prefix)
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            for stored in batch:
                yield stored

    async def delete_prefix(self, prefix: str) -> int:
        """Also removes what interrupted writes left there (not counted), then the emptied
        directories down from the prefix's own."""
        check_prefix_to_delete(prefix)
        return await asyncio.to_thread(_delete_tree, self._directory(prefix.removesuffix("/")))

    def _path(self, key: str) -> Path:
        check_key(key)
        return self._root.joinpath(*key.split("/"))

    def _directory(self, key_prefix: str) -> Path:
        """The directory of a checked prefix's whole segments ("" being the root)."""
        return self._root.joinpath(*key_prefix.split("/")) if key_prefix else self._root


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Makes the rename itself durable; best effort, as not every platform can do it."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _delete(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        path.unlink()


def _stored_files(root: Path, top: Path, prefix: str) -> Iterator[list[StoredObject]]:
    """The stored files under `top` whose keys start with `prefix`, a directory at a time;
    dot-prefixed directories (none is ever made) and files are passed over."""
    for directory, subdirectories, files in os.walk(top):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        relative = Path(directory).relative_to(root).as_posix()
        base = "" if relative == "." else f"{relative}/"
        batch = []
        for name in files:
            key = base + name
            if key.startswith(prefix) and is_key(key):
                modified = _modified(Path(directory, name))
                if modified is not None:
                    batch.append(StoredObject(key, modified))
        yield batch


def _modified(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:  # deleted since the directory was read
        return None


def _delete_tree(top: Path) -> int:
    deleted = 0
    for directory, _, files in os.walk(top, topdown=False):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
                if is_key(name):
                    deleted += 1
        with contextlib.suppress(OSError):  # written into meanwhile: left as it is
            os.rmdir(directory)
    return deleted
