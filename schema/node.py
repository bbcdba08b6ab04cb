"""Relay's Node interface; the global IDs themselves live in `resolvers.global_ids`."""

import strawberry

from resolvers.global_ids import decode_global_id, encode_global_id

__all__ = ["Node", "decode_global_id", "encode_global_id"]


@strawberry.interface(
    description="An object with a globally unique, opaque ID (Relay's Node interface)."
)
class Node:
    id: strawberry.ID
