"""Images kept on the local filesystem."""

from pathlib import Path

import pytest

from domain.images import ImageStorage
from image_storage import LocalImageStorage

KEY = "user-1/generation-1/0.png"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "images"


@pytest.fixture
def storage(root: Path) -> ImageStorage:
    return LocalImageStorage(root)


def files_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


async def test_saved_content_reads_back(storage: ImageStorage, root: Path) -> None:
    await storage.save(KEY, b"png bytes", "image/png")

    assert await storage.read(KEY) == b"png bytes"
    assert (root / "user-1" / "generation-1" / "0.png").read_bytes() == b"png bytes"


async def test_saving_again_overwrites(storage: ImageStorage) -> None:
    await storage.save(KEY, b"first", "image/png")
    await storage.save(KEY, b"second, longer", "image/png")

    assert await storage.read(KEY) == b"second, longer"


async def test_keys_are_kept_apart(storage: ImageStorage) -> None:
    await storage.save("u/g/0.png", b"zero", "image/png")
    await storage.save("u/g/1.webp", b"one", "image/webp")

    assert await storage.read("u/g/0.png") == b"zero"
    assert await storage.read("u/g/1.webp") == b"one"


async def test_empty_content_is_stored(storage: ImageStorage) -> None:
    await storage.save(KEY, b"", "image/png")

    assert await storage.read(KEY) == b""


async def test_reading_a_missing_key_is_none(storage: ImageStorage) -> None:
    assert await storage.read(KEY) is None


async def test_reading_below_a_file_is_none(storage: ImageStorage) -> None:
    await storage.save("u/g", b"a file where a directory might be", "image/png")

    assert await storage.read("u/g/0.png") is None


async def test_delete_removes_the_image(storage: ImageStorage) -> None:
    await storage.save(KEY, b"png bytes", "image/png")

    await storage.delete(KEY)

    assert await storage.read(KEY) is None


async def test_deleting_a_missing_key_is_fine(storage: ImageStorage) -> None:
    await storage.delete(KEY)
    await storage.save(KEY, b"png bytes", "image/png")
    await storage.delete(KEY)
    await storage.delete(KEY)


async def test_no_temporary_files_are_left_behind(storage: ImageStorage, root: Path) -> None:
    for round_ in range(3):
        await storage.save(KEY, f"round {round_}".encode(), "image/png")
        await storage.save("user-1/generation-1/1.png", b"another", "image/png")

    assert files_under(root) == ["user-1/generation-1/0.png", "user-1/generation-1/1.png"]


async def test_a_failed_write_leaves_the_old_content_and_no_temporary_file(
    storage: ImageStorage, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await storage.save(KEY, b"old", "image/png")

    def failing_replace(source: str, destination: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr("image_storage.local.os.replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        await storage.save(KEY, b"new", "image/png")

    assert await storage.read(KEY) == b"old"
    assert files_under(root) == [KEY]


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside.png",
    "user-1/../../outside.png",
    "user-1/..",
    "user..1/0.png",
    "user-1\\0.png",
    "user-1/generation 1/0.png",
    "user-1/génération/0.png",
    "user-1/0.png\x00",
    "user-1//0.png",
    "user-1/0.png/",
    "./0.png",
    "user-1/.hidden.png",
    "user-1/~0.png",
    "a" * 513,
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_refused(storage: ImageStorage, root: Path, key: str) -> None:
    with pytest.raises(ValueError, match="image key"):
        await storage.save(key, b"png bytes", "image/png")
    with pytest.raises(ValueError, match="image key"):
        await storage.read(key)
    with pytest.raises(ValueError, match="image key"):
        await storage.delete(key)

    assert not root.exists()
