import strawberry

from domain.errors import ErrorCode as DomainErrorCode
from domain.users.models import ModelStatus as DomainModelStatus

ErrorCode = strawberry.enum(
    DomainErrorCode,
    name="ErrorCode",
    description=(
        "The codes a client can meet in an error's `extensions.code`. "
        "Every error the server returns carries one of them."
    ),
)

ModelStatus = strawberry.enum(DomainModelStatus, name="ModelStatus")
