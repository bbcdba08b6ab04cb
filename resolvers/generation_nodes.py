"""Generations as the API shows them, their images loaded in one batch."""

from collections.abc import Sequence

from domain.generation.models import Generation
from request_context.context import Info
from resolvers.views import ShownGeneration


async def with_images(info: Info, generations: Sequence[Generation]) -> list[ShownGeneration]:
    """Generations with their images, fetched together through the request's DataLoader.

    Images come with the generations rather than from a resolver of their own: one
    awaited batch for the page instead of an awaitable per generation.
    """
    batches = await info.context.loaders.images_by_generation.load_many(
        [generation.id for generation in generations]
    )
    return [
        ShownGeneration(generation, list(images))
        for generation, images in zip(generations, batches, strict=True)
    ]
