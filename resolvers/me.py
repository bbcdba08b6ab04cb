from domain.users.models import User
from request_context.context import Info


def me(info: Info) -> User:
    return info.context.user
