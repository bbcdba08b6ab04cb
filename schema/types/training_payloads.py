import strawberry
from strawberry.file_uploads import Upload

from schema.types.training import TrainingJob, UserModel


@strawberry.input
class StartTrainingInput:
    images: list[Upload] = strawberry.field(description="The user's selfies: JPEG, PNG or WebP.")


@strawberry.type
class StartTrainingPayload:
    training_job: TrainingJob
    model: UserModel
