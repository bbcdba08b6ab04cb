from domain.training.models import TrainingJob
from request_context.context import Info
from resolvers.global_ids import local_id


async def cancel_training(info: Info, job_id: str) -> TrainingJob:
    return await info.context.services.training.cancel(
        info.context.user, local_id(job_id, "TrainingJob")
    )
