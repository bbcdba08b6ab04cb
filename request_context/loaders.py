"""Per-request DataLoaders: every relation is loaded in batches, never row by row.

Loaders by id answer only the signed-in user's own objects (None for anyone else's).
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from strawberry.dataloader import DataLoader

from domain.generation.models import GeneratedImage, Generation
from domain.training.models import TrainingJob
from domain.users.models import User, UserModel
from request_context.services import Services

T = TypeVar("T")


def _by_key(
    find: Callable[[Sequence[str]], Awaitable[Mapping[str, T]]],
) -> DataLoader[str, T | None]:
    async def load(keys: Sequence[str]) -> list[T | None]:
        found = await find(keys)
        return [found.get(key) for key in keys]

    return DataLoader(load)


class Loaders:
    def __init__(self, services: Services, current_user: Callable[[], User]) -> None:
        async def images_by_generation(ids: Sequence[str]) -> list[list[GeneratedImage]]:
            found = await services.generation.images_for(current_user(), ids)
            return [found.get(generation_id, []) for generation_id in ids]

        self.model_by_user: DataLoader[str, UserModel | None] = _by_key(
            services.users.models_for_users
        )
        self.active_training_by_user: DataLoader[str, TrainingJob | None] = _by_key(
            services.training.active_for_users
        )
        self.images_by_generation: DataLoader[str, list[GeneratedImage]] = DataLoader(
            images_by_generation
        )
        self.model: DataLoader[str, UserModel | None] = _by_key(
            lambda ids: services.users.owned_models(current_user(), ids)
        )
        self.training_job: DataLoader[str, TrainingJob | None] = _by_key(
            lambda ids: services.training.owned_by_ids(current_user(), ids)
        )
        self.generation: DataLoader[str, Generation | None] = _by_key(
            lambda ids: services.generation.owned_by_ids(current_user(), ids)
        )
        self.image: DataLoader[str, GeneratedImage | None] = _by_key(
            lambda ids: services.generation.owned_images(current_user(), ids)
        )
