from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry

from request_context.context import Info
from resolvers.subscriptions.generation_updated import generation_updated
from resolvers.subscriptions.training_progress import training_progress
from schema.types.generation import Generation
from schema.types.training import TrainingJob


async def _training_progress(
    info: Info, training_job_id: strawberry.ID | None = None
) -> AsyncGenerator[TrainingJob]:
    async with aclosing(training_progress(info, training_job_id)) as jobs:
        async for job in jobs:
            yield TrainingJob.from_domain(job)


async def _generation_updated(
    info: Info, generation_id: strawberry.ID
) -> AsyncGenerator[Generation]:
    async with aclosing(generation_updated(info, generation_id)) as updates:
        async for shown in updates:
            yield Generation.from_domain(shown)


@strawberry.type
class Subscription:
    training_progress: AsyncGenerator[TrainingJob] = strawberry.subscription(
        resolver=_training_progress,
        description=(
            "The signed-in user's training: the job's current state at once, then again on "
            "every change of status or progress; completes after a terminal status. Without "
            "an ID, the user's active (or else latest) training."
        ),
    )
    generation_updated: AsyncGenerator[Generation] = strawberry.subscription(
        resolver=_generation_updated,
        description=(
            "A generation of the signed-in user's, at once and on every change; "
            "completes after a terminal status."
        ),
    )
