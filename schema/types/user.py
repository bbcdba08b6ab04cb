from typing import Self

import strawberry

from domain.users.models import User as DomainUser
from resolvers.user import resolve_generations, resolve_training_jobs, resolve_user_model
from schema.node import Node, encode_global_id
from schema.types.connections import GenerationConnection, TrainingJobConnection
from schema.types.user_model import UserModel


@strawberry.type(name="User")
class User(Node):
    user_id: strawberry.Private[str]

    model: UserModel | None = strawberry.field(
        resolver=resolve_user_model,
        description="The user's own model; null until the user's first training is started.",
    )
    generations: GenerationConnection = strawberry.field(resolver=resolve_generations)
    training_jobs: TrainingJobConnection = strawberry.field(resolver=resolve_training_jobs)

    @classmethod
    def from_domain(cls, user: DomainUser) -> Self:
        return cls(id=encode_global_id("User", user.id), user_id=user.id)
