from resolvers.context import Info
from schema.types.generation import Generation
from schema.types.generation_payloads import GeneratePayload, GeneratePhotoshootInput


async def generate_photoshoot(info: Info, input: GeneratePhotoshootInput) -> GeneratePayload:
    generation = await info.context.services.generation.generate_photoshoot(
        info.context.user, str(input.style_id), input.details
    )
    return GeneratePayload(generation=Generation.from_domain(generation))
