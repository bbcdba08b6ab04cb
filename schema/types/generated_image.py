from typing import Self

import strawberry

from domain.generation.models import GeneratedImage as DomainImage
from domain.images import ImageUrlSigner
from schema.node import Node, encode_global_id


@strawberry.type(name="GeneratedImage")
class GeneratedImage(Node):
    url: str = strawberry.field(
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
    def from_domain(cls, image: DomainImage, urls: ImageUrlSigner) -> Self:
        return cls(
            id=encode_global_id("GeneratedImage", image.id),
            url=urls.url(image.id),
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            selected=image.selected,
        )
