"""Per-request DataLoaders: every relation is loaded in batches, never row by row."""

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from domain.generation.models import GeneratedImage
from domain.training.models import TrainingJob
from domain.users.models import User, UserModel

if TYPE_CHECKING:
    from resolvers.context import Services


class Loaders:
    def __init__(self, services: "Services", current_user: Callable[[], User]) -> None:
        async def models_by_user(user_ids: Sequence[str]) -> list[UserModel | None]:
            found = await services.users.models_for_users(user_ids)
            return [found.get(user_id) for user_id in user_ids]

        async def active_trainings_by_user(user_ids: Sequence[str]) -> list[TrainingJob | None]:
            found = await services.training.active_for_users(user_ids)
            return [found.get(user_id) for user_id in user_ids]

        async def images_by_generation(ids: Sequence[str]) -> list[list[GeneratedImage]]:
            found = await services.generation.images_for(current_user(), ids)
            return [found.get(generation_id, []) for generation_id in ids]

        self.model_by_user: DataLoader[str, UserModel | None] = DataLoader(models_by_user)
        self.active_training_by_user: DataLoader[str, TrainingJob | None] = DataLoader(
            active_trainings_by_user
        )
        self.images_by_generation: DataLoader[str, list[GeneratedImage]] = DataLoader(
            images_by_generation
        )
