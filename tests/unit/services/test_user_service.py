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


async def test_a_known_subject_is_read_with_nothing_written(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    users = UserService(uow)
    await users.sign_in("oidc|alice")
    commits = db.commits

    await users.sign_in("oidc|alice")

    assert db.commits == commits


async def test_the_subject_of_a_deleted_user_signs_in_as_a_new_user(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    users = UserService(uow)
    before = await users.sign_in("oidc|alice")
    del db.tables.users[before.id]  # as deleting the account does, on any replica

    after = await users.sign_in("oidc|alice")

    assert after.id != before.id
    assert list(db.tables.users) == [after.id]


@pytest.mark.parametrize("subject", ["", "x" * 256])
async def test_an_empty_or_overlong_subject_is_refused_with_nothing_written(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, subject: str
) -> None:
    with pytest.raises(Unauthenticated):
        await UserService(uow).sign_in(subject)

    assert db.tables.users == {}
    assert db.commits == 0
