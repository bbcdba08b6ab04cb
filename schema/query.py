import strawberry

from resolvers.me import resolve_me
from resolvers.node import resolve_node, resolve_nodes
from resolvers.photoshoot_styles import resolve_photoshoot_styles
from schema.node import Node
from schema.types.photoshoot_style import PhotoshootStyle
from schema.types.user import User


@strawberry.type
class Query:
    me: User = strawberry.field(resolver=resolve_me, description="The signed-in user.")
    node: Node | None = strawberry.field(
        resolver=resolve_node,
        description="Any object the signed-in user owns, by global ID; null for anything else.",
    )
    nodes: list[Node | None] = strawberry.field(
        resolver=resolve_nodes,
        description=(
            "Several objects by global ID, in the order asked; null for each the user does not own."
        ),
    )
    photoshoot_styles: list[PhotoshootStyle] = strawberry.field(
        resolver=resolve_photoshoot_styles, description="The curated photoshoot styles."
    )
