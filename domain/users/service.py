import secrets
from collections import OrderedDict
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
    """Knows users by their identity provider's subject and provisions them on first sign-in."""

    def __init__(self, uow: UnitOfWorkFactory, *, cache_size: int = 10_000) -> None:
        self._uow = uow
        # Users are never deleted and a subject never changes owner, so the
        # mapping can be kept in memory once seen.
        self._by_subject: OrderedDict[str, User] = OrderedDict()
        self._cache_size = cache_size

    async def sign_in(self, subject: str) -> User:
        if not subject or len(subject) > MAX_SUBJECT_LENGTH:
            raise Unauthenticated("The token's subject is empty or too long.")
        cached = self._by_subject.get(subject)
        if cached is not None:
            self._by_subject.move_to_end(subject)
            return cached
        user = await self._find_or_provision(subject)
        self._remember(user)
        return user

    async def _find_or_provision(self, subject: str) -> User:
        async with self._uow() as uow:
            for _ in range(_PROVISION_ATTEMPTS):
                user = await uow.users.get_by_subject(subject)
                if user is not None:
                    return user
                # Concurrent first sign-ins of one subject meet at the unique
                # constraint; an (improbable) id collision just draws again.
                await uow.users.insert_if_absent(new_user_id(), subject)
                await uow.commit()
        raise RuntimeError(f"could not provision a user id after {_PROVISION_ATTEMPTS} draws")

    def _remember(self, user: User) -> None:
        self._by_subject[user.subject] = user
        if len(self._by_subject) > self._cache_size:
            self._by_subject.popitem(last=False)

    async def models_for_users(self, user_ids: Sequence[str]) -> dict[str, UserModel]:
        async with self._uow(read_only=True) as uow:
            models = await uow.user_models.for_users(user_ids)
        return {model.user_id: model for model in models}

    async def owned_models(self, user: User, model_ids: Sequence[str]) -> dict[str, UserModel]:
        """The user's own models among `model_ids`, by id; others' are simply absent."""
        async with self._uow(read_only=True) as uow:
            models = await uow.user_models.owned_by_ids(user.id, model_ids)
        return {model.id: model for model in models}
