from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self

import strawberry

from domain.training.models import TrainingJob as DomainTrainingJob
from resolvers.training_job import resolve_training_model
from schema.enums import TrainingStatus
from schema.node import Node, encode_global_id

if TYPE_CHECKING:
    from schema.types.user_model import UserModel


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
    model: Annotated["UserModel", strawberry.lazy("schema.types.user_model")] = strawberry.field(
        resolver=resolve_training_model,
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
