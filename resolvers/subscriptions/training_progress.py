from collections.abc import AsyncGenerator

import strawberry

from resolvers.context import Info
from resolvers.global_ids import local_id
from schema.types.training_job import TrainingJob


async def training_progress(
    info: Info, training_job_id: strawberry.ID | None = None
) -> AsyncGenerator[TrainingJob]:
    job_id = None if training_job_id is None else local_id(training_job_id, "TrainingJob")
    async for job in info.context.services.training.follow(info.context.user, job_id):
        info.context.renew_loaders()
        yield TrainingJob.from_domain(job)
