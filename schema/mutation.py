import strawberry

from resolvers.mutations.cancel_training import cancel_training
from resolvers.mutations.generate_maya import generate_maya
from resolvers.mutations.generate_photoshoot import generate_photoshoot
from resolvers.mutations.select_image import select_image
from resolvers.mutations.start_training import start_training
from schema.types.generated_image import GeneratedImage
from schema.types.generation_payloads import GeneratePayload
from schema.types.training_job import TrainingJob
from schema.types.training_payloads import StartTrainingPayload


@strawberry.type
class Mutation:
    start_training: StartTrainingPayload = strawberry.mutation(resolver=start_training)
    cancel_training: TrainingJob = strawberry.mutation(resolver=cancel_training)
    generate_maya: GeneratePayload = strawberry.mutation(resolver=generate_maya)
    generate_photoshoot: GeneratePayload = strawberry.mutation(resolver=generate_photoshoot)
    select_image: GeneratedImage = strawberry.mutation(
        resolver=select_image,
        description="Marks one image of a generation as the user's pick (and unmarks the others).",
    )
