"""A request's share of connections: at most `limit` slots at once, none taken twice by
one task, reaching every task the request starts."""

import asyncio
import contextvars

import pytest

from persistence.connection_share import ConnectionShare, current_share, share_connections

BOUND = 5.0  # seconds: a hang, not a timing goal


async def test_no_more_than_the_limit_hold_slots_at_once() -> None:
    share = ConnectionShare(3)
    holding, most = 0, 0
    full, release = asyncio.Event(), asyncio.Event()

    async def unit_of_work() -> None:
        nonlocal holding, most
        async with share.slot():
            holding += 1
            most = max(most, holding)
            if holding == share.limit:
                full.set()
            await release.wait()
            holding -= 1

    tasks = [asyncio.create_task(unit_of_work()) for _ in range(10)]
    await asyncio.wait_for(full.wait(), BOUND)
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), BOUND)

    assert most == 3
    assert holding == 0


async def test_a_unit_of_work_inside_another_in_the_same_task_takes_no_second_slot() -> None:
    share = ConnectionShare(1)

    async def nested() -> str:
        async with share.slot(), share.slot(), share.slot():
            return "done"

    assert await asyncio.wait_for(nested(), BOUND) == "done"
    # and the slot is free again afterwards
    assert await asyncio.wait_for(nested(), BOUND) == "done"


async def test_the_share_reaches_tasks_the_request_starts_and_no_one_else() -> None:
    async def request() -> tuple[ConnectionShare, ConnectionShare | None]:
        share = share_connections(2)
        seen = await asyncio.create_task(asyncio.sleep(0, result=current_share()))
        return share, seen

    share, seen_by_child = await contextvars.copy_context().run(asyncio.create_task, request())

    assert seen_by_child is share
    assert current_share() is None


def test_a_share_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ConnectionShare(0)
