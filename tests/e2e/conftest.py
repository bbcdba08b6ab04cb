from collections.abc import AsyncIterator

import pytest

from tests.fake_replicate import FakeReplicate


@pytest.fixture
async def fake() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate() as fake:
        yield fake
