from typing import Self

import strawberry

from domain.generation.models import GenerationSource
from domain.users.models import User as DomainUser
from request_context.context import Info
from resolvers.global_ids import encode_global_id
from resolvers.user import generations, training_jobs, user_model
from schema.node import Node
from schema.types.connections import GenerationConnection, TrainingJobConnection
from schema.types.training import UserModel


async def _model(root: "User", info: Info) -> UserModel | None:
    model = await user_model(info, root.user_id)
    return UserModel.from_domain(model) if model else None


async def _generations(
    root: "User",
    info: Info,
    first: int | None = 20,
    after: str | None = None,
    source: GenerationSource | None = None,
) -> GenerationConnection:
    return GenerationConnection.from_domain(await generations(info, first, after, source))


async def _training_jobs(
    root: "User", info: Info, first: int | None = 10, after: str | None = None
) -> TrainingJobConnection:
    return TrainingJobConnection.from_domain(await training_jobs(info, first, after))


@strawberry.type(name="User")
class User(Node):
    user_id: strawberry.Private[str]

    model: UserModel | None = strawberry.field(
        resolver=_model,
        description="The user's own model; null until the user's first training is started.",
    )
    generations: GenerationConnection = strawberry.field(resolver=_generations)
    training_jobs: TrainingJobConnection = strawberry.field(resolver=_training_jobs)

    @classmethod
    def from_domain(cls, user: DomainUser) -> Self:
        return cls(id=encode_global_id("User", user.id), user_id=user.id)
