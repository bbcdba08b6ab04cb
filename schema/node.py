"""Relay's Node interface; the global IDs themselves live in `resolvers.global_ids`."""

import strawberry


@strawberry.interface(
    description="An object with a globally unique, opaque ID (Relay's Node interface)."
)
class Node:
    id: strawberry.ID
