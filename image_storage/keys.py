"""The keys images are stored under, the same in every store."""

import re

_KEY_CHARACTERS = re.compile(r"[A-Za-z0-9._/-]{1,512}")


def check_key(key: str) -> None:
    """ValueError unless `key` is a relative slash-separated path such as
    "<user id>/<generation id>/0.png" whose segments are neither empty nor start with a dot
    (which rules out "." and "..", and keeps dot-prefixed names free for the stores' own use)."""
    if _KEY_CHARACTERS.fullmatch(key) is None or ".." in key:
        raise ValueError(f"Not a valid image key: {key!r}")
    if any(segment == "" or segment.startswith(".") for segment in key.split("/")):
        raise ValueError(f"Not a valid image key: {key!r}")


def is_key(name: str) -> bool:
    try:
        check_key(name)
    except ValueError:
        return False
    return True


def check_prefix(prefix: str) -> None:
    """ValueError unless `prefix` is "" or a key, or a key's folder ("<key>/")."""
    if prefix and not is_key(prefix.removesuffix("/")):
        raise ValueError(f"Not a valid key prefix: {prefix!r}")


def check_prefix_to_delete(prefix: str) -> None:
    """ValueError unless `prefix` is a key's folder ("<key>/"): never "" (everything)."""
    if not prefix.endswith("/") or not is_key(prefix.removesuffix("/")):
        raise ValueError(f"Not a valid key prefix to delete under: {prefix!r}")
