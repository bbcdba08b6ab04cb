"""Listing the images kept on the local filesystem, and deleting them by key prefix."""

import asyncio
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.images import ImageStorage
from image_storage import LocalImageStorage

PNG = "image/png"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "images"


@pytest.fixture
def storage(root: Path) -> ImageStorage:
    return LocalImageStorage(root)


async def keys_of(storage: ImageStorage, prefix: str = "") -> list[str]:
    return sorted([stored.key async for stored in storage.list_objects(prefix)])


def files_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


async def save_all(storage: ImageStorage, *keys: str) -> None:
    for key in keys:
        await storage.save(key, key.encode(), PNG)


STORED = [
    "u1/g1/0.png",
    "u1/g1/0.thumbnail.webp",
    "u1/g10/0.png",
    "u1/g2/0.png",
    "u10/g1/0.png",
    "u2/generation/1.png",
]


async def test_everything_is_listed_without_a_prefix(storage: ImageStorage) -> None:
    await save_all(storage, *STORED)

    assert await keys_of(storage) == STORED


@pytest.mark.parametrize(
    ("prefix", "listed"),
    [
        ("u1/", ["u1/g1/0.png", "u1/g1/0.thumbnail.webp", "u1/g10/0.png", "u1/g2/0.png"]),
        ("u1/g1/", ["u1/g1/0.png", "u1/g1/0.thumbnail.webp"]),
        ("u1/g1", ["u1/g1/0.png", "u1/g1/0.thumbnail.webp", "u1/g10/0.png"]),
        ("u1", [key for key in STORED if key.startswith("u1")]),
        ("u2/gen", ["u2/generation/1.png"]),
        ("u1/g1/0.png", ["u1/g1/0.png"]),
        ("u1/g1/0.", ["u1/g1/0.png", "u1/g1/0.thumbnail.webp"]),
        ("u3/", []),
        ("u1/g3/", []),
    ],
)
async def test_a_prefix_is_a_prefix_of_the_keys(
    storage: ImageStorage, prefix: str, listed: list[str]
) -> None:
    await save_all(storage, *STORED)

    assert await keys_of(storage, prefix) == listed


async def test_an_empty_or_missing_store_lists_nothing(storage: ImageStorage, root: Path) -> None:
    assert await keys_of(storage) == []
    assert await keys_of(storage, "u1/") == []
    assert not root.exists()


async def test_dot_prefixed_and_other_names_that_are_no_keys_are_not_listed(
    storage: ImageStorage, root: Path
) -> None:
    await save_all(storage, "u1/g1/0.png")
    for stray in [
        ".sselfie-probe",
        "u1/g1/.0.png.k2j3h4.tmp",  # what an interrupted write leaves
        ".trash/u1/g1/0.png",
        "u1/.cache/0.png",
        "u1/g1/with space.png",
    ]:
        (root / stray).parent.mkdir(parents=True, exist_ok=True)
        (root / stray).write_bytes(b"not an image")

    assert await keys_of(storage) == ["u1/g1/0.png"]
    assert await keys_of(storage, "u1/") == ["u1/g1/0.png"]


async def test_a_write_in_progress_is_not_listed(
    storage: ImageStorage, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await save_all(storage, "u1/g1/0.png")
    renaming = threading.Event()
    may_rename = threading.Event()
    replace = os.replace

    def paused_replace(source: str, destination: str) -> None:
        renaming.set()
        may_rename.wait(timeout=5)
        replace(source, destination)

    monkeypatch.setattr("image_storage.local.os.replace", paused_replace)
    saving = asyncio.create_task(storage.save("u1/g1/1.png", b"new", PNG))
    await asyncio.to_thread(renaming.wait, 5)

    during = await keys_of(storage)
    on_disk = files_under(root)
    may_rename.set()
    await saving

    assert during == ["u1/g1/0.png"]
    assert [name for name in on_disk if name.startswith("u1/g1/.1.png.")] != []
    assert await keys_of(storage) == ["u1/g1/0.png", "u1/g1/1.png"]


async def test_last_modified_is_the_files_modification_time_in_utc(
    storage: ImageStorage, root: Path
) -> None:
    before = datetime.now(UTC)
    await save_all(storage, "u1/g1/0.png", "u1/g1/1.png")
    after = datetime.now(UTC)
    long_ago = datetime(2024, 2, 29, 12, 30, 15, tzinfo=UTC)
    os.utime(root / "u1/g1/1.png", (long_ago.timestamp(), long_ago.timestamp()))

    listed = {stored.key: stored.last_modified async for stored in storage.list_objects()}

    fresh = listed["u1/g1/0.png"]
    assert fresh.utcoffset() == timedelta(0)
    # A filesystem's clock may round to its own granularity.
    assert before - timedelta(seconds=2) <= fresh <= after + timedelta(seconds=2)
    assert listed["u1/g1/1.png"] == long_ago
    assert listed["u1/g1/1.png"].tzinfo is UTC


async def test_deleting_a_users_prefix_leaves_every_other_user(
    storage: ImageStorage, root: Path
) -> None:
    await save_all(storage, *STORED)

    deleted = await storage.delete_prefix("u1/")

    assert deleted == 4
    assert await keys_of(storage) == ["u10/g1/0.png", "u2/generation/1.png"]
    assert not (root / "u1").exists()
    assert (root / "u10" / "g1").is_dir()


async def test_deleting_a_generations_prefix_leaves_its_siblings(
    storage: ImageStorage, root: Path
) -> None:
    await save_all(storage, *STORED)

    deleted = await storage.delete_prefix("u1/g1/")

    assert deleted == 2
    assert await keys_of(storage, "u1/") == ["u1/g10/0.png", "u1/g2/0.png"]
    assert not (root / "u1" / "g1").exists()
    assert await storage.read("u1/g10/0.png") == b"u1/g10/0.png"


async def test_deleting_again_deletes_nothing(storage: ImageStorage, root: Path) -> None:
    await save_all(storage, *STORED)

    assert await storage.delete_prefix("u2/") == 1
    assert await storage.delete_prefix("u2/") == 0
    assert await storage.delete_prefix("u3/") == 0
    assert await keys_of(storage) == STORED[:-1]
    assert root.is_dir()


async def test_deleting_in_an_empty_store_deletes_nothing(
    storage: ImageStorage, root: Path
) -> None:
    assert await storage.delete_prefix("u1/") == 0
    assert not root.exists()


async def test_deleting_a_prefix_also_removes_what_interrupted_writes_left(
    storage: ImageStorage, root: Path
) -> None:
    await save_all(storage, "u1/g1/0.png", "u2/g1/0.png")
    leftover = root / "u1" / "g1" / ".1.png.k2j3h4.tmp"
    leftover.write_bytes(b"half an image")

    deleted = await storage.delete_prefix("u1/")

    assert deleted == 1
    assert files_under(root) == ["u2/g1/0.png"]


async def test_deleting_under_a_key_that_is_a_file_deletes_nothing(
    storage: ImageStorage,
) -> None:
    await save_all(storage, "u1/g1")

    assert await storage.delete_prefix("u1/g1/") == 0
    assert await keys_of(storage) == ["u1/g1"]


BAD_PREFIXES_TO_DELETE = [
    "",
    "/",
    "u1",
    "u1/g1",
    "u1//",
    "/u1/",
    "../",
    "u1/../",
    "u1/../../",
    ".hidden/",
    "u1/.cache/",
    "u 1/",
    "u1\\",
]


@pytest.mark.parametrize("prefix", BAD_PREFIXES_TO_DELETE)
async def test_bad_prefixes_to_delete_are_refused(
    storage: ImageStorage, root: Path, prefix: str
) -> None:
    await save_all(storage, *STORED)

    with pytest.raises(ValueError, match="prefix"):
        await storage.delete_prefix(prefix)

    assert await keys_of(storage) == STORED


@pytest.mark.parametrize("prefix", ["/", "../", "/u1", "u1//", "u1/../", ".hidden", "u1/."])
async def test_prefixes_no_key_can_start_with_are_refused(
    storage: ImageStorage, prefix: str
) -> None:
    with pytest.raises(ValueError, match="prefix"):
        await keys_of(storage, prefix)
