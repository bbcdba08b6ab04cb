"""Enums shared by the domain and the API: registered with Strawberry, used as domain types."""

import strawberry

from domain.errors import ErrorCode
from domain.generation.models import GenerationSource, GenerationStatus
from domain.images import ImageSize
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

strawberry.enum(GenerationStatus, name="GenerationStatus")
strawberry.enum(GenerationSource, name="GenerationSource")
strawberry.enum(
    ImageSize,
    name="ImageSize",
    description=(
        "Sizes an image can be fetched in. ORIGINAL is the stored file exactly as generated; "
        "the others are smaller renditions for galleries (longest side at most 384 px for "
        "THUMBNAIL and 1024 px for PREVIEW, aspect ratio kept, WebP)."
    ),
)

__all__ = [
    "ErrorCode",
    "GenerationSource",
    "GenerationStatus",
    "ImageSize",
    "ModelStatus",
    "TrainingStatus",
]
