import re
from collections.abc import AsyncIterator, Iterator

import pytest

from bench.servers import STARTED
from tests.fake_replicate import FakeReplicate

# A token in a log line, whatever logged it: a JWT (bearer or not), or the token of a
# webhook URL or the signature of an image URL.
_TOKEN_SHAPES = (
    re.compile(r"Bearer\s+eyJ"),
    re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
    re.compile(r"[?&](?:token|signature)=[A-Za-z0-9_-]{8,}"),
)
# Settings whose values must never be printed.
_SECRET_SETTINGS = (
    "REPLICATE_API_TOKEN",
    "REPLICATE_WEBHOOK_SECRET",
    "AUTH_JWT_SECRET",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "METRICS_TOKEN",
)
# How many lines of each started process (by its place in STARTED) were checked already.
_checked: dict[int, int] = {}


@pytest.fixture
async def fake() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_token_in_any_log_line() -> Iterator[None]:
    """After each test: no line any server or worker printed since the last check holds a
    token or a secret of its settings."""
    yield
    leaks: list[str] = []
    for index, process in enumerate(STARTED):
        start = _checked.get(index, 0)
        lines = process.output[start:]
        _checked[index] = start + len(lines)
        secrets = [process.env[name] for name in _SECRET_SETTINGS if process.env.get(name)]
        leaks.extend(line for line in lines if _leaks(line, secrets))
    assert leaks == [], "a secret in the servers' log lines:\n" + "".join(leaks)


def _leaks(line: str, secrets: list[str]) -> bool:
    return any(shape.search(line) for shape in _TOKEN_SHAPES) or any(
        secret in line for secret in secrets
    )
