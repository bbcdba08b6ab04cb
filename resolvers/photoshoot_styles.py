from domain.generation.styles import PhotoshootStyle
from request_context.context import Info


def photoshoot_styles(info: Info, category: str | None) -> list[PhotoshootStyle]:
    return info.context.services.generation.styles(category)
