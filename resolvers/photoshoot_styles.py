from resolvers.context import Info
from schema.types.photoshoot_style import PhotoshootStyle


def resolve_photoshoot_styles(info: Info, category: str | None = None) -> list[PhotoshootStyle]:
    return [
        PhotoshootStyle.from_domain(style)
        for style in info.context.services.generation.styles(category)
    ]
