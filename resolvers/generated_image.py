"""Fields of `GeneratedImage`."""

from typing import TYPE_CHECKING

from resolvers.context import Info

if TYPE_CHECKING:
    from schema.types.generated_image import GeneratedImage


def resolve_image_url(root: "GeneratedImage", info: Info) -> str:
    return info.context.services.image_urls.url(root.image_id)
