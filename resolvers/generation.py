"""Fields of `Generation`."""

from typing import TYPE_CHECKING

from resolvers.context import Info
from schema.types.photoshoot_style import PhotoshootStyle

if TYPE_CHECKING:
    from schema.types.generation import Generation


def resolve_style(root: "Generation", info: Info) -> PhotoshootStyle | None:
    if root.style_id is None:
        return None
    style = info.context.services.generation.style(root.style_id)
    return PhotoshootStyle.from_domain(style) if style else None
