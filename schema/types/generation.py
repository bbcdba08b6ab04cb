"""`Generation` and `GeneratedImage`: one module, since each has a field of the other."""

from datetime import datetime
from typing import Self

import strawberry

from domain.generation.models import GeneratedImage as DomainGeneratedImage
from domain.generation.parameters import GenerationParameters as DomainParameters
from request_context.context import Info
from resolvers.generated_image import image_generation, image_url
from resolvers.generation import generation_style
from resolvers.global_ids import encode_global_id
from resolvers.views import ShownGeneration
from schema.enums import GenerationSource, GenerationStatus, ImageSize
from schema.node import Node
from schema.types.photoshoot_style import PhotoshootStyle


async def _image_generation(root: "GeneratedImage", info: Info) -> "Generation":
    return Generation.from_domain(await image_generation(info, root.generation_id))


def _url(root: "GeneratedImage", info: Info, size: ImageSize | None = ImageSize.ORIGINAL) -> str:
    # Nullable as the contract has it: an explicit null is the default.
    return image_url(info, root.image_id, size or ImageSize.ORIGINAL)


def _style(root: "Generation", info: Info) -> PhotoshootStyle | None:
    style = generation_style(info, root.style_id)
    return PhotoshootStyle.from_domain(style) if style else None


@strawberry.type(name="GeneratedImage")
class GeneratedImage(Node):
    generation_id: strawberry.Private[str]
    image_id: strawberry.Private[str]
    url: str = strawberry.field(
        resolver=_url,
        description=(
            "A URL this server controls (not the provider's expiring one), in the requested "
            "size: absolute, expiring, and usable by a browser on another origin (an "
            "`<img src>`) with no further credentials."
        ),
    )
    content_type: str
    width: int | None
    height: int | None
    selected: bool = strawberry.field(
        description="Whether the user picked this image out of the generation's outputs."
    )
    generation: "Generation" = strawberry.field(
        resolver=_image_generation,
        description=(
            "The generation this image belongs to (so a client can refresh its "
            "siblings' `selected`)."
        ),
    )

    @classmethod
    def from_domain(cls, image: DomainGeneratedImage) -> Self:
        return cls(
            id=encode_global_id("GeneratedImage", image.id),
            generation_id=image.generation_id,
            image_id=image.id,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            selected=image.selected,
        )


@strawberry.type(
    name="GenerationParameters",
    description="The locked generation parameters, echoed as they were sent.",
)
class GenerationParameters:
    guidance: float
    num_inference_steps: int
    lora_scale: float
    num_outputs: int
    aspect_ratio: str
    output_format: str
    output_quality: int
    go_fast: bool
    disable_safety_checker: bool
    seed: int

    @classmethod
    def from_domain(cls, parameters: DomainParameters) -> Self:
        return cls(
            guidance=parameters.guidance,
            num_inference_steps=parameters.num_inference_steps,
            lora_scale=parameters.lora_scale,
            num_outputs=parameters.num_outputs,
            aspect_ratio=parameters.aspect_ratio,
            output_format=parameters.output_format,
            output_quality=parameters.output_quality,
            go_fast=parameters.go_fast,
            disable_safety_checker=parameters.disable_safety_checker,
            seed=parameters.seed,
        )


@strawberry.type(name="Generation")
class Generation(Node):
    generation_id: strawberry.Private[str]
    style_id: strawberry.Private[str | None]
    source: GenerationSource
    prompt: str = strawberry.field(
        description="The prompt as sent to the provider, trigger word included."
    )
    style: PhotoshootStyle | None = strawberry.field(resolver=_style)
    status: GenerationStatus
    parameters: GenerationParameters
    images: list[GeneratedImage]
    error: str | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_domain(cls, shown: ShownGeneration) -> Self:
        generation = shown.generation
        return cls(
            id=encode_global_id("Generation", generation.id),
            generation_id=generation.id,
            style_id=generation.style_id,
            source=generation.source,
            prompt=generation.prompt,
            status=generation.status,
            parameters=GenerationParameters.from_domain(generation.parameters),
            images=[GeneratedImage.from_domain(image) for image in shown.images],
            error=generation.error,
            created_at=generation.created_at,
            completed_at=generation.completed_at,
        )
