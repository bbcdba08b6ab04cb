"""`node(id)` and `nodes(ids)`: objects the signed-in user owns, by global ID, loaded in
batches (a type's objects cost one statement however many are asked for)."""

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable

from domain.errors import BadUserInput
from domain.generation.models import GeneratedImage
from domain.training.models import TrainingJob
from domain.users.models import User, UserModel
from request_context.context import Info
from resolvers.generation_nodes import with_images
from resolvers.global_ids import decode_global_id
from resolvers.views import ShownGeneration

MAX_NODES = 100
_USER_ID = re.compile(r"[a-z0-9]{1,32}")

# What a global ID can name.
NodeObject = User | UserModel | TrainingJob | ShownGeneration | GeneratedImage


async def _user(info: Info, local_id: str) -> NodeObject | None:
    user = info.context.user
    return user if user.id == local_id else None


async def _user_model(info: Info, local_id: str) -> NodeObject | None:
    return await info.context.loaders.model.load(local_id)


async def _training_job(info: Info, local_id: str) -> NodeObject | None:
    return await info.context.loaders.training_job.load(local_id)


async def _generation(info: Info, local_id: str) -> NodeObject | None:
    generation = await info.context.loaders.generation.load(local_id)
    if generation is None:
        return None
    [shown] = await with_images(info, [generation])
    return shown


async def _generated_image(info: Info, local_id: str) -> NodeObject | None:
    return await info.context.loaders.image.load(local_id)


def _is_uuid(local_id: str) -> bool:
    try:
        uuid.UUID(local_id)
    except ValueError:
        return False
    return True


def _is_user_id(local_id: str) -> bool:
    return _USER_ID.fullmatch(local_id) is not None


_Resolver = Callable[[Info, str], Awaitable[NodeObject | None]]
# Each type: how its objects are found, and what its local ids look like.
_TYPES: dict[str, tuple[_Resolver, Callable[[str], bool]]] = {
    "User": (_user, _is_user_id),
    "UserModel": (_user_model, _is_uuid),
    "TrainingJob": (_training_job, _is_uuid),
    "Generation": (_generation, _is_uuid),
    "GeneratedImage": (_generated_image, _is_uuid),
}


def _parse(global_id: str) -> tuple[_Resolver, str] | None:
    """How to find the object an ID names, or None if it is not one of our IDs."""
    decoded = decode_global_id(global_id)
    if decoded is None or decoded[0] not in _TYPES:
        return None
    resolve, well_formed = _TYPES[decoded[0]]
    return (resolve, decoded[1]) if well_formed(decoded[1]) else None


async def node(info: Info, global_id: str) -> NodeObject | None:
    parsed = _parse(global_id)
    if parsed is None:
        return None
    resolve, local_id = parsed
    return await resolve(info, local_id)


async def nodes(info: Info, ids: list[str]) -> list[NodeObject | None]:
    if len(ids) > MAX_NODES:
        raise BadUserInput(f"`nodes` takes at most {MAX_NODES} ids; {len(ids)} were sent.")
    parsed = [_parse(global_id) for global_id in ids]
    malformed = [position for position, found in enumerate(parsed) if found is None]
    if malformed:
        raise BadUserInput(
            f"`nodes`: ids[{malformed[0]}] is not an ID this API gave out "
            f"({len(malformed)} malformed in all)."
        )
    # Resolved together, so each type's DataLoader reads its objects in one batch.
    return list(
        await asyncio.gather(
            *(resolve(info, local_id) for resolve, local_id in filter(None, parsed))
        )
    )
