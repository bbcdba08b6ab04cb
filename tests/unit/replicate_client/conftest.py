"""A client on a real httpx transport whose responses respx scripts, and whose waits are
recorded instead of slept."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from replicate_client import ReplicateClient
from tests.unit.replicate_client.fakes import BASE_URL, TOKEN, FakeSleep


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def client(http: httpx.AsyncClient, sleep: FakeSleep) -> ReplicateClient:
    return ReplicateClient(http, base_url=BASE_URL, token=TOKEN, sleep=sleep)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router
