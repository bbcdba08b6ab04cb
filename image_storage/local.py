"""`ImageStorage` on the local filesystem: one file per key under a root directory."""

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

from image_storage.keys import check_key


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

    def _path(self, key: str) -> Path:
        check_key(key)
        return self._root.joinpath(*key.split("/"))


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
