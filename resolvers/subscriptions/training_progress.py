from collections.abc import AsyncGenerator

from domain.training.models import TrainingJob
from request_context.context import Info
from resolvers.global_ids import local_id


async def training_progress(info: Info, training_job_id: str | None) -> AsyncGenerator[TrainingJob]:
    job_id = None if training_job_id is None else local_id(training_job_id, "TrainingJob")
    async for job in info.context.services.training.follow(info.context.user, job_id):
        info.context.renew_loaders()
        yield job
