"""Generations as the API shows them, their images loaded in one batch."""

from collections.abc import Sequence

from domain.generation.models import Generation as DomainGeneration
from resolvers.context import Info
from schema.types.generated_image import GeneratedImage
from schema.types.generation import Generation


async def with_images(info: Info, generations: Sequence[DomainGeneration]) -> list[Generation]:
    """Maps generations, their images fetched together through the request's DataLoader.

    Images come with the generations rather than from a resolver of their own: one
    awaited batch for the page instead of an awaitable per generation.
    """
    batches = await info.context.loaders.images_by_generation.load_many(
        [generation.id for generation in generations]
    )
    return [
        Generation.from_domain(
            generation,
            [
                GeneratedImage.from_domain(image, info.context.image_url(image.id))
                for image in images
            ],
        )
        for generation, images in zip(generations, batches, strict=True)
    ]
