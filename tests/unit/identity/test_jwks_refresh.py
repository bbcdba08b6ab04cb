"""The OIDC issuer's key set expires: fresh for its Cache-Control max-age (clamped to
[300, 3600] s, 300 s without one), re-fetched by the next verification after that, and
served stale for at most an hour more while the issuer cannot be reached."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from joserfc import jwt
from joserfc.jwk import RSAKey

from identity.tokens import InvalidToken, OidcTokenVerifier, jwks_max_age
from tests.unit.identity.fake_clock import FakeClock

ISSUER = "https://issuer.test"
JWKS_URL = "https://keys.issuer.test/jwks"

# Spelled out rather than imported: a changed constant shows up as a failing test.
MIN_MAX_AGE = 300.0
MAX_MAX_AGE = 3600.0
DEFAULT_MAX_AGE = 300.0
STALE_GRACE = 3600.0
RETRY_AFTER_FAILURE = 10.0


@pytest.fixture(scope="module")
def old_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "old"})


@pytest.fixture(scope="module")
def new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "new"})


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock.get(f"{ISSUER}/.well-known/openid-configuration").mock(
            return_value=httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": JWKS_URL})
        )
        yield mock


@pytest.fixture
def keys(router: respx.MockRouter) -> respx.Route:
    return router.get(JWKS_URL)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def verifier(router: respx.MockRouter, clock: FakeClock) -> AsyncIterator[OidcTokenVerifier]:
    async with httpx.AsyncClient() as http:
        yield OidcTokenVerifier(ISSUER, http, clock=clock)


def published(*keys: RSAKey, cache_control: str | None = None) -> httpx.Response:
    headers = {} if cache_control is None else {"Cache-Control": cache_control}
    body = {"keys": [key.as_dict(private=False) for key in keys]}
    return httpx.Response(200, json=body, headers=headers)


def token(key: RSAKey) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "alice", "iss": ISSUER, "exp": now + 600}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


async def accepted(verifier: OidcTokenVerifier, key: RSAKey) -> bool:
    try:
        await verifier.verify(token(key))
    except InvalidToken:
        return False
    return True


async def assert_fresh_for(
    seconds: float, verifier: OidcTokenVerifier, keys: respx.Route, clock: FakeClock, key: RSAKey
) -> None:
    """The keys serve from the cache until `seconds` have passed, then are fetched once more."""
    assert await accepted(verifier, key)
    clock.advance(seconds - 0.5)
    assert await accepted(verifier, key)
    assert keys.call_count == 1
    clock.advance(0.5)
    assert await accepted(verifier, key)
    assert keys.call_count == 2


# --------------------------------------------------------------------------- max-age


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        (["public, max-age=900"], 900.0),
        (["max-age=900, must-revalidate"], 900.0),
        (["MAX-AGE = 900"], 900.0),
        (['max-age="900"'], 900.0),
        (["public", "max-age=900"], 900.0),
        (["max-age=300"], 300.0),
        (["max-age=3600"], 3600.0),
        (["max-age=0"], MIN_MAX_AGE),
        (["max-age=10"], MIN_MAX_AGE),
        (["max-age=86400"], MAX_MAX_AGE),
        (["max-age=" + "9" * 400], MAX_MAX_AGE),
        ([], DEFAULT_MAX_AGE),
        (["no-store"], DEFAULT_MAX_AGE),
        (["no-cache"], DEFAULT_MAX_AGE),
        (["s-maxage=900"], DEFAULT_MAX_AGE),
        (["max-age"], DEFAULT_MAX_AGE),
        (["max-age="], DEFAULT_MAX_AGE),
        (["max-age=-5"], DEFAULT_MAX_AGE),
        (["max-age=1.5e3"], DEFAULT_MAX_AGE),
        (["max-age=900s"], DEFAULT_MAX_AGE),
        (["max-age=٩٠٠"], DEFAULT_MAX_AGE),
        (["max-age=900, max-age=1800"], DEFAULT_MAX_AGE),
    ],
)
def test_max_age_is_read_and_clamped(headers: list[str], seconds: float) -> None:
    assert jwks_max_age(headers) == seconds


# --------------------------------------------------------------------------- expiry


async def test_keys_are_refetched_once_their_max_age_has_passed(
    verifier: OidcTokenVerifier, keys: respx.Route, clock: FakeClock, old_key: RSAKey
) -> None:
    keys.mock(return_value=published(old_key, cache_control="max-age=900"))
    await assert_fresh_for(900, verifier, keys, clock, old_key)


async def test_a_removed_key_stops_working_when_the_keys_expire(
    verifier: OidcTokenVerifier,
    keys: respx.Route,
    clock: FakeClock,
    old_key: RSAKey,
    new_key: RSAKey,
) -> None:
    keys.mock(
        side_effect=[
            published(old_key, new_key, cache_control="max-age=600"),
            published(new_key, cache_control="max-age=600"),
        ]
    )
    assert await accepted(verifier, old_key)
    assert await accepted(verifier, new_key)
    clock.advance(600)

    assert not await accepted(verifier, old_key)
    assert await accepted(verifier, new_key)
    assert keys.call_count == 2


@pytest.mark.parametrize(
    ("cache_control", "fresh_for"),
    [
        ("max-age=5", MIN_MAX_AGE),
        ("max-age=604800", MAX_MAX_AGE),
        (None, DEFAULT_MAX_AGE),
        ("no-store", DEFAULT_MAX_AGE),
    ],
)
async def test_the_keys_stay_fresh_for_the_clamped_max_age(
    verifier: OidcTokenVerifier,
    keys: respx.Route,
    clock: FakeClock,
    old_key: RSAKey,
    cache_control: str | None,
    fresh_for: float,
) -> None:
    keys.mock(return_value=published(old_key, cache_control=cache_control))
    await assert_fresh_for(fresh_for, verifier, keys, clock, old_key)


async def test_a_refetch_for_an_unknown_kid_restarts_the_max_age(
    verifier: OidcTokenVerifier,
    keys: respx.Route,
    clock: FakeClock,
    old_key: RSAKey,
    new_key: RSAKey,
) -> None:
    keys.mock(
        side_effect=[
            published(old_key, cache_control="max-age=300"),
            published(old_key, new_key, cache_control="max-age=300"),
        ]
    )
    assert await accepted(verifier, old_key)
    clock.advance(200)
    assert await accepted(verifier, new_key)
    clock.advance(299)
    assert await accepted(verifier, old_key)
    assert keys.call_count == 2


async def test_concurrent_verifications_of_expired_keys_refetch_once(
    verifier: OidcTokenVerifier, keys: respx.Route, clock: FakeClock, old_key: RSAKey
) -> None:
    keys.mock(return_value=published(old_key))
    assert await accepted(verifier, old_key)
    clock.advance(DEFAULT_MAX_AGE)
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_keys(request: httpx.Request) -> httpx.Response:
        entered.set()
        await release.wait()
        return published(old_key)

    keys.mock(side_effect=slow_keys)
    tasks = [asyncio.create_task(accepted(verifier, old_key)) for _ in range(3)]
    await entered.wait()
    release.set()
    assert await asyncio.gather(*tasks) == [True, True, True]
    assert keys.call_count == 2


# --------------------------------------------------------------------------- failures


async def test_expired_keys_serve_while_the_issuer_is_down_then_stop(
    verifier: OidcTokenVerifier, keys: respx.Route, clock: FakeClock, old_key: RSAKey
) -> None:
    keys.mock(return_value=published(old_key, cache_control="max-age=600"))
    assert await accepted(verifier, old_key)
    keys.mock(return_value=httpx.Response(503))
    clock.advance(600)

    # Not every user is locked out by an issuer's outage: the last keys go on serving...
    assert await accepted(verifier, old_key)
    assert keys.call_count == 2
    # ...the issuer is asked again only after the back-off...
    clock.advance(RETRY_AFTER_FAILURE - 0.5)
    assert await accepted(verifier, old_key)
    assert keys.call_count == 2
    clock.advance(0.5)
    assert await accepted(verifier, old_key)
    assert keys.call_count == 3

    # ...and for a bounded time: an hour past their max-age nothing is accepted.
    clock.now = 1000.0 + 600 + STALE_GRACE - 0.5
    assert await accepted(verifier, old_key)
    clock.advance(0.5)
    assert not await accepted(verifier, old_key)
    calls = keys.call_count
    assert not await accepted(verifier, old_key)
    assert keys.call_count == calls

    # Once the issuer answers again, its keys are trusted again.
    keys.mock(return_value=published(old_key))
    clock.advance(RETRY_AFTER_FAILURE)
    assert await accepted(verifier, old_key)


async def test_a_key_removed_during_an_outage_stops_working_once_a_refetch_succeeds(
    verifier: OidcTokenVerifier,
    keys: respx.Route,
    clock: FakeClock,
    old_key: RSAKey,
    new_key: RSAKey,
) -> None:
    keys.mock(return_value=published(old_key, new_key))
    assert await accepted(verifier, old_key)
    keys.mock(side_effect=httpx.ConnectError("connection refused"))
    clock.advance(DEFAULT_MAX_AGE)
    assert await accepted(verifier, old_key)

    keys.mock(return_value=published(new_key))
    clock.advance(RETRY_AFTER_FAILURE)
    assert not await accepted(verifier, old_key)
    assert await accepted(verifier, new_key)


async def test_a_failed_first_fetch_accepts_nothing(
    verifier: OidcTokenVerifier, keys: respx.Route, clock: FakeClock, old_key: RSAKey
) -> None:
    keys.mock(return_value=httpx.Response(500))
    with pytest.raises(InvalidToken, match="could not be fetched"):
        await verifier.verify(token(old_key))
