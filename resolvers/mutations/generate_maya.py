from resolvers.context import Info
from schema.types.generation import Generation
from schema.types.generation_payloads import GenerateMayaInput, GeneratePayload


async def generate_maya(info: Info, input: GenerateMayaInput) -> GeneratePayload:
    generation = await info.context.services.generation.generate_maya(
        info.context.user, input.prompt
    )
    return GeneratePayload(generation=Generation.from_domain(generation))
