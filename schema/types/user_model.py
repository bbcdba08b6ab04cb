from datetime import datetime
from typing import Self

import strawberry

from domain.users.models import UserModel as DomainUserModel
from resolvers.user_model import resolve_active_training
from schema.enums import ModelStatus
from schema.node import Node, encode_global_id
from schema.types.training_job import TrainingJob


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
        resolver=resolve_active_training, description="The training running now, if any."
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
