"""Fields of `Generation`."""

from domain.generation.styles import PhotoshootStyle
from request_context.context import Info


def generation_style(info: Info, style_id: str | None) -> PhotoshootStyle | None:
    if style_id is None:
        return None
    return info.context.services.generation.style(style_id)
