import strawberry

from resolvers.mutations.cancel_training import cancel_training
from resolvers.mutations.start_training import start_training
from schema.types.training_job import TrainingJob
from schema.types.training_payloads import StartTrainingPayload


@strawberry.type
class Mutation:
    start_training: StartTrainingPayload = strawberry.mutation(resolver=start_training)
    cancel_training: TrainingJob = strawberry.mutation(resolver=cancel_training)
