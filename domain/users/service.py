import secrets
from collections.abc import Sequence

from domain.errors import Unauthenticated
from domain.ports import UnitOfWorkFactory
from domain.users.models import User, UserModel

USER_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
USER_ID_LENGTH = 10
MAX_SUBJECT_LENGTH = 255
_PROVISION_ATTEMPTS = 5


def new_user_id() -> str:
    return "".join(secrets.choice(USER_ID_ALPHABET) for _ in range(USER_ID_LENGTH))


class UserService:
    """Knows users by their identity provider's subject and provisions them on first sign-in.

    Every sign-in reads the user's row (one indexed read): an account deleted through
    any replica is gone for the next request everywhere, and its subject's next sign-in
    provisions a new user with a new id.
    """

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def sign_in(self, subject: str) -> User:
        if not subject or len(subject) > MAX_SUBJECT_LENGTH:
            raise Unauthenticated("The token's subject is empty or too long.")
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get_by_subject(subject)
        return user or await self._provision(subject)

    async def _provision(self, subject: str) -> User:
        async with self._uow() as uow:
            for _ in range(_PROVISION_ATTEMPTS):
                # Concurrent first sign-ins of one subject meet at the unique
                # constraint; an (improbable) id collision just draws again.
                await uow.users.insert_if_absent(new_user_id(), subject)
                await uow.commit()
                user = await uow.users.get_by_subject(subject)
                if user is not None:
                    return user
        raise RuntimeError(f"could not provision a user id after {_PROVISION_ATTEMPTS} draws")

    async def models_for_users(self, user_ids: Sequence[str]) -> dict[str, UserModel]:
        async with self._uow(read_only=True) as uow:
            models = await uow.user_models.for_users(user_ids)
        return {model.user_id: model for model in models}

    async def owned_models(self, user: User, model_ids: Sequence[str]) -> dict[str, UserModel]:
        """The user's own models among `model_ids`, by id; others' are simply absent."""
        async with self._uow(read_only=True) as uow:
            models = await uow.user_models.owned_by_ids(user.id, model_ids)
        return {model.id: model for model in models}
