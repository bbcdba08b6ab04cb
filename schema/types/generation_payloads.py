import strawberry

from schema.types.generation import Generation


@strawberry.input
class GenerateMayaInput:
    prompt: str = strawberry.field(
        description="What to create; the trigger word is added if it is missing."
    )


@strawberry.input
class GeneratePhotoshootInput:
    style_id: strawberry.ID
    details: str | None = strawberry.field(
        default=None, description="Optional details added to the style's prompt."
    )


@strawberry.type
class GeneratePayload:
    generation: Generation
