from typing import Self

import strawberry

from domain.generation.models import GeneratedImage as DomainImage
from resolvers.generated_image import resolve_image_url
from schema.node import Node, encode_global_id


@strawberry.type(name="GeneratedImage")
class GeneratedImage(Node):
    image_id: strawberry.Private[str]
    url: str = strawberry.field(
        resolver=resolve_image_url,
        description=(
            "A URL this server controls (not the provider's expiring one), readable by the owner."
        ),
    )
    content_type: str
    width: int | None
    height: int | None
    selected: bool = strawberry.field(
        description="Whether the user picked this image out of the generation's outputs."
    )

    @classmethod
    def from_domain(cls, image: DomainImage) -> Self:
        return cls(
            id=encode_global_id("GeneratedImage", image.id),
            image_id=image.id,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            selected=image.selected,
        )
