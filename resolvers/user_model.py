"""Fields of `UserModel`."""

from typing import TYPE_CHECKING

from resolvers.context import Info
from schema.types.training_job import TrainingJob

if TYPE_CHECKING:
    from schema.types.user_model import UserModel


async def resolve_active_training(root: "UserModel", info: Info) -> TrainingJob | None:
    job = await info.context.loaders.active_training_by_user.load(root.user_id)
    return TrainingJob.from_domain(job) if job else None
