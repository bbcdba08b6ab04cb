"""Fields of `TrainingJob`."""

from typing import TYPE_CHECKING, Annotated

import strawberry

from domain.errors import NotFound
from resolvers.context import Info

if TYPE_CHECKING:
    from schema.types.training_job import TrainingJob
    from schema.types.user_model import UserModel


async def resolve_training_model(
    root: "TrainingJob", info: Info
) -> Annotated["UserModel", strawberry.lazy("schema.types.user_model")]:
    # Imported here: UserModel's own module imports TrainingJob (`activeTraining`).
    from schema.types.user_model import UserModel

    model = await info.context.loaders.model.load(root.model_id)
    if model is None:
        raise NotFound("No such model among yours.")
    return UserModel.from_domain(model)
