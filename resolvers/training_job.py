"""Fields of `TrainingJob`."""

from domain.errors import NotFound
from domain.users.models import UserModel
from request_context.context import Info


async def training_model(info: Info, model_id: str) -> UserModel:
    model = await info.context.loaders.model.load(model_id)
    if model is None:
        raise NotFound("No such model among yours.")
    return model
