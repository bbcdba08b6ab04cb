"""SqlUnitOfWork: only what is committed stays; anything else rolls back on exit."""

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.unit_of_work import SqlUnitOfWork


async def subject_known(engine: AsyncEngine, subject: str) -> bool:
    async with SqlUnitOfWork(engine, read_only=True) as uow:
        return await uow.users.get_by_subject(subject) is not None


async def test_writes_left_without_commit_leave_no_rows(engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(engine) as uow:
        await uow.users.insert_if_absent("alice1", "oidc|alice")
        assert await uow.users.get_by_subject("oidc|alice") is not None

    assert not await subject_known(engine, "oidc|alice")


async def test_writes_before_an_exception_leave_no_rows(engine: AsyncEngine) -> None:
    async def write_then_fail() -> None:
        async with SqlUnitOfWork(engine) as uow:
            await uow.users.insert_if_absent("alice1", "oidc|alice")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await write_then_fail()

    assert not await subject_known(engine, "oidc|alice")


async def test_committed_writes_stay_and_later_uncommitted_ones_do_not(
    engine: AsyncEngine,
) -> None:
    async with SqlUnitOfWork(engine) as uow:
        await uow.users.insert_if_absent("alice1", "oidc|alice")
        await uow.commit()
        await uow.users.insert_if_absent("bob1", "oidc|bob")

    assert await subject_known(engine, "oidc|alice")
    assert not await subject_known(engine, "oidc|bob")
