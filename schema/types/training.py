"""`TrainingJob` and `UserModel`: one module, since each has a field of the other."""

from datetime import datetime
from typing import Self

import strawberry

from domain.training.models import TrainingJob as DomainTrainingJob
from domain.users.models import UserModel as DomainUserModel
from request_context.context import Info
from resolvers.global_ids import encode_global_id
from resolvers.training_job import training_model
from resolvers.user_model import active_training
from schema.enums import ModelStatus, TrainingStatus
from schema.node import Node


async def _training_model(root: "TrainingJob", info: Info) -> "UserModel":
    return UserModel.from_domain(await training_model(info, root.model_id))


async def _active_training(root: "UserModel", info: Info) -> "TrainingJob | None":
    job = await active_training(info, root.user_id)
    return TrainingJob.from_domain(job) if job else None


@strawberry.type(name="TrainingJob")
class TrainingJob(Node):
    model_id: strawberry.Private[str]
    status: TrainingStatus
    progress: float = strawberry.field(
        description="Fraction of the trainer's steps done, 0.0 to 1.0; 1.0 once SUCCEEDED."
    )
    image_count: int
    replicate_training_id: str | None
    error: str | None = strawberry.field(
        description="Why the training failed or was canceled, in words a user can act on."
    )
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    model: "UserModel" = strawberry.field(
        resolver=_training_model,
        description=(
            "The user's model this training is for. Selecting it in `trainingProgress` lets "
            "a client's normalized cache see the model become READY in the same event that "
            "ends the training."
        ),
    )

    @classmethod
    def from_domain(cls, job: DomainTrainingJob) -> Self:
        return cls(
            id=encode_global_id("TrainingJob", job.id),
            model_id=job.model_id,
            status=job.status,
            progress=job.progress,
            image_count=job.image_count,
            replicate_training_id=job.replicate_training_id,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
        )


@strawberry.type(name="UserModel")
class UserModel(Node):
    replicate_model_id: str = strawberry.field(
        description='The user\'s own model on the provider: "<owner>/<userId>-selfie-lora".'
    )
    replicate_version_id: str | None = strawberry.field(
        description="The version every generation runs; null until a training has succeeded."
    )
    trigger_word: str = strawberry.field(
        description='The word that names the user in prompts: "user<userId>".'
    )
    status: ModelStatus
    active_training: TrainingJob | None = strawberry.field(
        resolver=_active_training, description="The training running now, if any."
    )
    trained_at: datetime | None
    created_at: datetime

    user_id: strawberry.Private[str]

    @classmethod
    def from_domain(cls, model: DomainUserModel) -> Self:
        return cls(
            id=encode_global_id("UserModel", model.id),
            user_id=model.user_id,
            replicate_model_id=model.replicate_model_id,
            replicate_version_id=model.replicate_version_id,
            trigger_word=model.trigger_word,
            status=model.status,
            trained_at=model.trained_at,
            created_at=model.created_at,
        )
