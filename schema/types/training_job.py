from datetime import datetime
from typing import Self

import strawberry

from domain.training.models import TrainingJob as DomainTrainingJob
from schema.enums import TrainingStatus
from schema.node import Node, encode_global_id


@strawberry.type(name="TrainingJob")
class TrainingJob(Node):
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

    @classmethod
    def from_domain(cls, job: DomainTrainingJob) -> Self:
        return cls(
            id=encode_global_id("TrainingJob", job.id),
            status=job.status,
            progress=job.progress,
            image_count=job.image_count,
            replicate_training_id=job.replicate_training_id,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
        )
