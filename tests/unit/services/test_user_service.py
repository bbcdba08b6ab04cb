"""UserService on fakes: a subject is provisioned once, a bad one never."""

import pytest

from domain.errors import Unauthenticated
from domain.users.service import UserService
from tests.unit.fakes import FakeDatabase, FakeUnitOfWorkFactory


async def test_a_first_sign_in_provisions_the_user_once(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    first = await UserService(uow).sign_in("oidc|alice")
    again = await UserService(uow).sign_in("oidc|alice")

    assert again == first
    assert list(db.tables.users) == [first.id]


async def test_a_known_subject_is_served_from_memory(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    users = UserService(uow)
    await users.sign_in("oidc|alice")
    opened = len(uow.opened)

    await users.sign_in("oidc|alice")

    assert len(uow.opened) == opened


@pytest.mark.parametrize("subject", ["", "x" * 256])
async def test_an_empty_or_overlong_subject_is_refused_with_nothing_written(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, subject: str
) -> None:
    with pytest.raises(Unauthenticated):
        await UserService(uow).sign_in(subject)

    assert db.tables.users == {}
    assert db.commits == 0
