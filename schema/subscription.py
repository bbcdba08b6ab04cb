from collections.abc import AsyncGenerator

import strawberry

from resolvers.subscriptions.generation_updated import generation_updated
from resolvers.subscriptions.training_progress import training_progress
from schema.types.generation import Generation
from schema.types.training_job import TrainingJob


@strawberry.type
class Subscription:
    training_progress: AsyncGenerator[TrainingJob] = strawberry.subscription(
        resolver=training_progress,
        description=(
            "The signed-in user's training: the job's current state at once, then again on "
            "every change of status or progress; completes after a terminal status. Without "
            "an ID, the user's active (or else latest) training."
        ),
    )
    generation_updated: AsyncGenerator[Generation] = strawberry.subscription(
        resolver=generation_updated,
        description=(
            "A generation of the signed-in user's, at once and on every change; "
            "completes after a terminal status."
        ),
    )
