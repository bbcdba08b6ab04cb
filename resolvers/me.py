from resolvers.context import Info
from schema.types.user import User


async def resolve_me(info: Info) -> User:
    return User.from_domain(info.context.user)
