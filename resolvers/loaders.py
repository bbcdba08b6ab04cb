"""Per-request DataLoaders: every relation is loaded in batches, never row by row."""

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from domain.training.models import TrainingJob
from domain.training.service import TrainingService
from domain.users.models import UserModel
from domain.users.service import UserService


class Loaders:
    def __init__(self, users: UserService, training: TrainingService) -> None:
        async def models_by_user(user_ids: Sequence[str]) -> list[UserModel | None]:
            found = await users.models_for_users(user_ids)
            return [found.get(user_id) for user_id in user_ids]

        async def active_trainings_by_user(user_ids: Sequence[str]) -> list[TrainingJob | None]:
            found = await training.active_for_users(user_ids)
            return [found.get(user_id) for user_id in user_ids]

        self.model_by_user: DataLoader[str, UserModel | None] = DataLoader(models_by_user)
        self.active_training_by_user: DataLoader[str, TrainingJob | None] = DataLoader(
            active_trainings_by_user
        )
