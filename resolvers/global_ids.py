"""Relay-style global IDs: opaque, base64url of "<TypeName>:<id>"."""

import base64
import binascii

import strawberry

MAX_GLOBAL_ID_LENGTH = 200


def encode_global_id(type_name: str, local_id: str) -> strawberry.ID:
    raw = f"{type_name}:{local_id}".encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def decode_global_id(global_id: str) -> tuple[str, str] | None:
    """(type name, local id), or None for anything that is not one of our IDs."""
    if len(global_id) > MAX_GLOBAL_ID_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, separator, local_id = raw.partition(":")
    if not separator or not type_name or not local_id:
        return None
    return type_name, local_id


def local_id(global_id: str, type_name: str) -> str:
    """The local id inside a global ID of `type_name`; "" for anything else (found by no one)."""
    decoded = decode_global_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return ""
    return decoded[1]
