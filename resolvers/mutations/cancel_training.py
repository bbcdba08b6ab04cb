import strawberry

from resolvers.context import Info
from resolvers.global_ids import local_id
from schema.types.training_job import TrainingJob


async def cancel_training(info: Info, id: strawberry.ID) -> TrainingJob:
    job = await info.context.services.training.cancel(
        info.context.user, local_id(id, "TrainingJob")
    )
    return TrainingJob.from_domain(job)
