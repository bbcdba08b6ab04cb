from typing import TYPE_CHECKING, Annotated, Self

import strawberry

from domain.generation.models import GeneratedImage as DomainImage
from resolvers.generated_image import resolve_image_generation
from schema.node import Node, encode_global_id

if TYPE_CHECKING:
    from schema.types.generation import Generation


@strawberry.type(name="GeneratedImage")
class GeneratedImage(Node):
    generation_id: strawberry.Private[str]
    url: str = strawberry.field(
        description=(
            "A URL this server controls (not the provider's expiring one): absolute, "
            "expiring, and usable by a browser on another origin (an `<img src>`) with "
            "no further credentials."
        ),
    )
    content_type: str
    width: int | None
    height: int | None
    selected: bool = strawberry.field(
        description="Whether the user picked this image out of the generation's outputs."
    )
    generation: Annotated["Generation", strawberry.lazy("schema.types.generation")] = (
        strawberry.field(
            resolver=resolve_image_generation,
            description=(
                "The generation this image belongs to (so a client can refresh its "
                "siblings' `selected`)."
            ),
        )
    )

    @classmethod
    def from_domain(cls, image: DomainImage, url: str) -> Self:
        return cls(
            id=encode_global_id("GeneratedImage", image.id),
            generation_id=image.generation_id,
            url=url,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            selected=image.selected,
        )
