"""Enums shared by the domain and the API: registered with Strawberry, used as domain types."""

import strawberry

from domain.errors import ErrorCode
from domain.training.models import TrainingStatus
from domain.users.models import ModelStatus

strawberry.enum(
    ErrorCode,
    name="ErrorCode",
    description=(
        "The codes a client can meet in an error's `extensions.code`. "
        "Every error the server returns carries one of them."
    ),
)
strawberry.enum(ModelStatus, name="ModelStatus")
strawberry.enum(TrainingStatus, name="TrainingStatus")

__all__ = ["ErrorCode", "ModelStatus", "TrainingStatus"]
