"""`node(id)`: any object the signed-in user owns; null for anything else."""

from collections.abc import Awaitable, Callable

import strawberry

from domain.errors import NotFound
from resolvers.context import Info
from resolvers.generation_nodes import with_images
from schema.node import Node, decode_global_id
from schema.types.generated_image import GeneratedImage
from schema.types.training_job import TrainingJob
from schema.types.user import User
from schema.types.user_model import UserModel


async def _user(info: Info, local_id: str) -> Node | None:
    user = info.context.user
    return User.from_domain(user) if user.id == local_id else None


async def _user_model(info: Info, local_id: str) -> Node | None:
    model = await info.context.services.users.owned_model(info.context.user, local_id)
    return UserModel.from_domain(model) if model else None


async def _training_job(info: Info, local_id: str) -> Node | None:
    try:
        job = await info.context.services.training.get_owned(info.context.user, local_id)
    except NotFound:
        return None
    return TrainingJob.from_domain(job)


async def _generation(info: Info, local_id: str) -> Node | None:
    try:
        generation = await info.context.services.generation.get_owned(info.context.user, local_id)
    except NotFound:
        return None
    [mapped] = await with_images(info, [generation])
    return mapped


async def _generated_image(info: Info, local_id: str) -> Node | None:
    image = await info.context.services.generation.owned_image(info.context.user, local_id)
    urls = info.context.services.image_urls
    return GeneratedImage.from_domain(image, urls) if image else None


_RESOLVERS_BY_TYPE: dict[str, Callable[[Info, str], Awaitable[Node | None]]] = {
    "User": _user,
    "UserModel": _user_model,
    "TrainingJob": _training_job,
    "Generation": _generation,
    "GeneratedImage": _generated_image,
}


async def resolve_node(info: Info, id: strawberry.ID) -> Node | None:
    decoded = decode_global_id(id)
    if decoded is None:
        return None
    type_name, local_id = decoded
    resolve = _RESOLVERS_BY_TYPE.get(type_name)
    return await resolve(info, local_id) if resolve else None
