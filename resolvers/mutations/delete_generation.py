from request_context.context import Info
from resolvers.global_ids import local_id


async def delete_generation(info: Info, generation_id: str) -> None:
    await info.context.services.generation.delete(
        info.context.user, local_id(generation_id, "Generation")
    )
