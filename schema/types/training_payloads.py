import strawberry
from strawberry.file_uploads import Upload

from schema.types.training_job import TrainingJob
from schema.types.user_model import UserModel


@strawberry.input
class StartTrainingInput:
    images: list[Upload] = strawberry.field(description="The user's selfies: JPEG, PNG or WebP.")


@strawberry.type
class StartTrainingPayload:
    training_job: TrainingJob
    model: UserModel
