"""Relay-style global IDs: opaque, base64url of "<TypeName>:<id>"."""

import base64
import binascii

import strawberry


@strawberry.interface(
    description="An object with a globally unique, opaque ID (Relay's Node interface)."
)
class Node:
    id: strawberry.ID


def encode_global_id(type_name: str, local_id: str) -> strawberry.ID:
    raw = f"{type_name}:{local_id}".encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def decode_global_id(global_id: str) -> tuple[str, str] | None:
    """(type name, local id), or None for anything that is not one of our IDs."""
    if len(global_id) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, separator, local_id = raw.partition(":")
    if not separator or not type_name or not local_id:
        return None
    return type_name, local_id
