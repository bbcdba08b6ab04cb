from datetime import datetime
from typing import Self

import strawberry

from domain.generation.models import Generation as DomainGeneration
from domain.generation.parameters import GenerationParameters as DomainParameters
from resolvers.generation import resolve_style
from schema.enums import GenerationSource, GenerationStatus
from schema.node import Node, encode_global_id
from schema.types.generated_image import GeneratedImage
from schema.types.photoshoot_style import PhotoshootStyle


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
    style: PhotoshootStyle | None = strawberry.field(resolver=resolve_style)
    status: GenerationStatus
    parameters: GenerationParameters
    images: list[GeneratedImage]
    error: str | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_domain(cls, generation: DomainGeneration, images: list[GeneratedImage]) -> Self:
        return cls(
            id=encode_global_id("Generation", generation.id),
            generation_id=generation.id,
            style_id=generation.style_id,
            source=generation.source,
            prompt=generation.prompt,
            status=generation.status,
            parameters=GenerationParameters.from_domain(generation.parameters),
            images=images,
            error=generation.error,
            created_at=generation.created_at,
            completed_at=generation.completed_at,
        )
