"""Fields of `UserModel`."""

from domain.training.models import TrainingJob
from request_context.context import Info


async def active_training(info: Info, user_id: str) -> TrainingJob | None:
    return await info.context.loaders.active_training_by_user.load(user_id)
