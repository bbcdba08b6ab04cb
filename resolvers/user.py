"""Fields of `User`."""

from typing import TYPE_CHECKING

from resolvers.context import Info
from schema.types.user_model import UserModel

if TYPE_CHECKING:
    from schema.types.user import User


async def resolve_user_model(root: "User", info: Info) -> UserModel | None:
    model = await info.context.loaders.model_by_user.load(root.user_id)
    return UserModel.from_domain(model) if model else None
