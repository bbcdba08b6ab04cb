"""Unit tests for identity/tokens.py and the sign-in mode chosen by identity/setup.py."""

import asyncio
import base64
import hashlib
import hmac
import json
import stat
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from identity import setup
from identity.tokens import (
    AuthConfigurationError,
    HmacTokenVerifier,
    InvalidToken,
    OidcTokenVerifier,
    TokenVerifier,
    issue_token,
)
from settings import Environment, Settings
from tests.unit.identity.fake_clock import FakeClock

SECRET = "s" * 16 + "e" * 16 + "-a-long-enough-secret"
OTHER_SECRET = "o" * 48

ISSUER = "https://issuer.test"
DISCOVERY_URL = f"{ISSUER}/.well-known/openid-configuration"
JWKS_URL = "https://keys.issuer.test/jwks"
AUDIENCE = "sselfie-api"

# The documented behaviour, spelled out here rather than imported so that a changed constant
# in identity/tokens.py shows up as a failing test.
CLOCK_LEEWAY_SECONDS = 30
JWKS_REFETCH_INTERVAL_SECONDS = 60.0
JWKS_RETRY_AFTER_FAILURE_SECONDS = 10.0
JWKS_DEFAULT_MAX_AGE_SECONDS = 300.0
MIN_SECRET_LENGTH = 32

AUTH_ENV_VARS = (
    "AUTH_JWT_SECRET",
    "OIDC_ISSUER",
    "OIDC_AUDIENCE",
    "SSELFIE_ENV",
    "SSELFIE_DATA_DIR",
)


# --------------------------------------------------------------------------- helpers


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: object) -> str:
    return b64url(json.dumps(value).encode())


def make_claims(*, omit: tuple[str, ...] = (), **overrides: Any) -> dict[str, Any]:
    """Claims that pass every check (subject, issuer, lifetime); override or omit any of them."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "user-1", "iss": ISSUER, "iat": now, "exp": now + 600}
    claims.update(overrides)
    for name in omit:
        claims.pop(name)
    return claims


def hs256(claims: dict[str, Any], secret: str = SECRET, **header: Any) -> str:
    return jwt.encode({"alg": "HS256", **header}, claims, OctKey.import_key(secret))


def signed(key: RSAKey | ECKey, claims: dict[str, Any], *, alg: str, kid: str | None) -> str:
    header: dict[str, Any] = {"alg": alg}
    if kid is not None:
        header["kid"] = kid
    return jwt.encode(header, claims, key)


def rs256(key: RSAKey, **claims: Any) -> str:
    """An RS256 token naming the key's own kid; `claims` go to make_claims."""
    return signed(key, make_claims(**claims), alg="RS256", kid=key.kid)


def es256(key: ECKey, **claims: Any) -> str:
    return signed(key, make_claims(**claims), alg="ES256", kid=key.kid)


async def assert_rejected(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


def unsigned_token(claims: dict[str, Any], alg: str = "none") -> str:
    return f"{b64json({'alg': alg, 'typ': 'JWT'})}.{b64json(claims)}."


def jwks(*keys: RSAKey | ECKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


@dataclass
class IdentityProvider:
    """The issuer's two endpoints, as respx routes whose calls the tests count."""

    discovery: respx.Route
    keys: respx.Route


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _clean_auth_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AUTH_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


@pytest.fixture(scope="module")
def rotated_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    # Every request must hit a route (no real network); some tests check a route is never called.
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def idp(router: respx.MockRouter, rsa_key: RSAKey, ec_key: ECKey) -> IdentityProvider:
    discovery = router.get(DISCOVERY_URL).mock(
        return_value=httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": JWKS_URL})
    )
    keys = router.get(JWKS_URL).mock(return_value=httpx.Response(200, json=jwks(rsa_key, ec_key)))
    return IdentityProvider(discovery=discovery, keys=keys)


@pytest.fixture
async def http(router: respx.MockRouter) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def oidc(http: httpx.AsyncClient, clock: FakeClock) -> OidcTokenVerifier:
    return OidcTokenVerifier(ISSUER, http, clock=clock)


@pytest.fixture
def oidc_with_audience(http: httpx.AsyncClient, clock: FakeClock) -> OidcTokenVerifier:
    return OidcTokenVerifier(ISSUER, http, audience=AUDIENCE, clock=clock)


@pytest.fixture
def hmac_verifier() -> HmacTokenVerifier:
    return HmacTokenVerifier(SECRET)


# --------------------------------------------------------------------------- HmacTokenVerifier


async def test_hmac_valid_token_returns_subject(hmac_verifier: HmacTokenVerifier) -> None:
    assert (await hmac_verifier.verify(hs256(make_claims(sub="alice")))).subject == "alice"


async def test_hmac_ignores_issuer_and_audience(hmac_verifier: HmacTokenVerifier) -> None:
    token = hs256(make_claims(sub="bob", iss="https://elsewhere.test", aud="anyone"))
    assert (await hmac_verifier.verify(token)).subject == "bob"


async def test_hmac_expired_token_is_rejected(hmac_verifier: HmacTokenVerifier) -> None:
    now = int(time.time())
    token = hs256(make_claims(iat=now - 7200, exp=now - (CLOCK_LEEWAY_SECONDS + 15)))
    await assert_rejected(hmac_verifier, token)


async def test_hmac_token_expired_within_leeway_is_accepted(
    hmac_verifier: HmacTokenVerifier,
) -> None:
    now = int(time.time())
    token = hs256(make_claims(iat=now - 600, exp=now - (CLOCK_LEEWAY_SECONDS - 10)))
    assert (await hmac_verifier.verify(token)).subject == "user-1"


async def test_hmac_token_not_yet_valid_is_rejected(hmac_verifier: HmacTokenVerifier) -> None:
    token = hs256(make_claims(nbf=int(time.time()) + CLOCK_LEEWAY_SECONDS + 300))
    await assert_rejected(hmac_verifier, token)


async def test_hmac_token_issued_in_the_future_is_rejected(
    hmac_verifier: HmacTokenVerifier,
) -> None:
    now = int(time.time())
    token = hs256(make_claims(iat=now + CLOCK_LEEWAY_SECONDS + 300, exp=now + 3600))
    await assert_rejected(hmac_verifier, token)


async def test_hmac_wrong_secret_is_rejected(hmac_verifier: HmacTokenVerifier) -> None:
    await assert_rejected(hmac_verifier, hs256(make_claims(), secret=OTHER_SECRET))


async def test_hmac_tampered_payload_is_rejected(hmac_verifier: HmacTokenVerifier) -> None:
    header, _, signature = hs256(make_claims(sub="alice")).split(".")
    forged = f"{header}.{b64json(make_claims(sub='admin'))}.{signature}"
    await assert_rejected(hmac_verifier, forged)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_hmac_unsigned_token_is_rejected(hmac_verifier: HmacTokenVerifier, alg: str) -> None:
    await assert_rejected(hmac_verifier, unsigned_token(make_claims(), alg=alg))


@pytest.mark.parametrize("claim", ["exp", "sub"])
async def test_hmac_token_without_essential_claim_is_rejected(
    hmac_verifier: HmacTokenVerifier, claim: str
) -> None:
    await assert_rejected(hmac_verifier, hs256(make_claims(omit=(claim,))))


@pytest.mark.parametrize(
    "overrides",
    [
        {"sub": ""},
        {"sub": 42},
        {"sub": None},
        {"sub": ["user-1"]},
        {"exp": "tomorrow"},
        {"exp": None},
        {"exp": True},
    ],
    ids=["empty-sub", "int-sub", "null-sub", "list-sub", "text-exp", "null-exp", "bool-exp"],
)
async def test_hmac_token_with_bad_claim_values_is_rejected(
    hmac_verifier: HmacTokenVerifier, overrides: dict[str, Any]
) -> None:
    await assert_rejected(hmac_verifier, hs256(make_claims(**overrides)))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b.c",
        "a.b",
        "....",
        "a.b.c.d.e",
        "é.é.é",
        f"{b64json([])}.{b64json({})}.",
        f"{b64json({'alg': 'HS256'})}.{b64json([1, 2])}.",
        f"{b64json({'alg': 'HS256'})}.{b64url(b'not json')}.",
    ],
)
async def test_hmac_malformed_token_is_rejected(
    hmac_verifier: HmacTokenVerifier, token: str
) -> None:
    await assert_rejected(hmac_verifier, token)


async def test_hmac_rejects_rs256_token(hmac_verifier: HmacTokenVerifier, rsa_key: RSAKey) -> None:
    await assert_rejected(hmac_verifier, rs256(rsa_key))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
async def test_hmac_rejects_other_hmac_algorithms(
    hmac_verifier: HmacTokenVerifier, alg: str
) -> None:
    token = jwt.encode({"alg": alg}, make_claims(), OctKey.import_key(SECRET), algorithms=[alg])
    await assert_rejected(hmac_verifier, token)


@pytest.mark.parametrize("secret", ["", "short", "x" * (MIN_SECRET_LENGTH - 1)])
def test_hmac_short_secret_is_a_configuration_error(secret: str) -> None:
    with pytest.raises(AuthConfigurationError, match="AUTH_JWT_SECRET"):
        HmacTokenVerifier(secret)


async def test_hmac_secret_of_minimum_length_is_accepted() -> None:
    secret = "x" * MIN_SECRET_LENGTH
    assert (
        await HmacTokenVerifier(secret).verify(hs256(make_claims(), secret=secret))
    ).subject == "user-1"


async def test_issue_token_round_trips(hmac_verifier: HmacTokenVerifier) -> None:
    token = issue_token(SECRET, "carol")
    assert (await hmac_verifier.verify(token)).subject == "carol"


async def test_issue_token_sets_lifetime(hmac_verifier: HmacTokenVerifier) -> None:
    before = int(time.time())
    token = issue_token(SECRET, "carol", ttl_seconds=120)
    after = int(time.time())
    decoded = jwt.decode(token, OctKey.import_key(SECRET), algorithms=["HS256"])
    assert decoded.header["alg"] == "HS256"
    assert decoded.claims["sub"] == "carol"
    assert before <= decoded.claims["iat"] <= after
    assert decoded.claims["exp"] == decoded.claims["iat"] + 120


async def test_issued_token_is_rejected_by_another_secret() -> None:
    with pytest.raises(InvalidToken):
        await HmacTokenVerifier(OTHER_SECRET).verify(issue_token(SECRET, "carol"))


async def test_issued_token_that_has_expired_is_rejected(hmac_verifier: HmacTokenVerifier) -> None:
    token = issue_token(SECRET, "carol", ttl_seconds=-(CLOCK_LEEWAY_SECONDS + 60))
    await assert_rejected(hmac_verifier, token)


# --------------------------------------------------------------------------- OidcTokenVerifier


async def test_oidc_valid_rs256_token_returns_subject(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey
) -> None:
    token = rs256(rsa_key, sub="dave")
    assert (await oidc.verify(token)).subject == "dave"
    assert idp.discovery.call_count == 1
    assert idp.keys.call_count == 1


async def test_oidc_valid_es256_token_returns_subject(
    oidc: OidcTokenVerifier, idp: IdentityProvider, ec_key: ECKey
) -> None:
    token = es256(ec_key, sub="erin")
    assert (await oidc.verify(token)).subject == "erin"


@pytest.mark.parametrize("aud", [AUDIENCE, [AUDIENCE], ["another-api", AUDIENCE]])
async def test_oidc_token_for_configured_audience_is_accepted(
    oidc_with_audience: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey, aud: Any
) -> None:
    token = rs256(rsa_key, aud=aud)
    assert (await oidc_with_audience.verify(token)).subject == "user-1"


@pytest.mark.parametrize("aud", ["another-api", ["another-api"], [], ""])
async def test_oidc_token_for_another_audience_is_rejected(
    oidc_with_audience: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey, aud: Any
) -> None:
    await assert_rejected(oidc_with_audience, rs256(rsa_key, aud=aud))


async def test_oidc_token_without_audience_is_rejected_when_one_is_configured(
    oidc_with_audience: OidcTokenVerifier, idp: IdentityProvider, ec_key: ECKey
) -> None:
    await assert_rejected(oidc_with_audience, es256(ec_key))


async def test_oidc_audience_is_not_checked_when_none_is_configured(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey
) -> None:
    token = rs256(rsa_key, aud="whoever")
    assert (await oidc.verify(token)).subject == "user-1"


@pytest.mark.parametrize(
    "iss", ["https://evil.test", f"{ISSUER}/", "https://ISSUER.test", "", 7], ids=repr
)
async def test_oidc_token_from_another_issuer_is_rejected(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey, iss: Any
) -> None:
    await assert_rejected(oidc, rs256(rsa_key, iss=iss))


@pytest.mark.parametrize("claim", ["iss", "sub", "exp"])
async def test_oidc_token_without_essential_claim_is_rejected(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey, claim: str
) -> None:
    await assert_rejected(oidc, rs256(rsa_key, omit=(claim,)))


async def test_oidc_expired_token_is_rejected(
    oidc: OidcTokenVerifier, idp: IdentityProvider, ec_key: ECKey
) -> None:
    now = int(time.time())
    await assert_rejected(oidc, es256(ec_key, iat=now - 7200, exp=now - CLOCK_LEEWAY_SECONDS - 60))


async def test_oidc_issuer_with_trailing_slash(
    router: respx.MockRouter, http: httpx.AsyncClient, rsa_key: RSAKey
) -> None:
    discovery = router.get(DISCOVERY_URL).mock(
        return_value=httpx.Response(200, json={"jwks_uri": JWKS_URL})
    )
    router.get(JWKS_URL).mock(return_value=httpx.Response(200, json=jwks(rsa_key)))
    verifier = OidcTokenVerifier(f"{ISSUER}/", http)
    token = rs256(rsa_key, iss=f"{ISSUER}/")
    assert (await verifier.verify(token)).subject == "user-1"
    assert discovery.call_count == 1


async def test_oidc_token_signed_by_another_key_with_a_known_kid_is_rejected(
    oidc: OidcTokenVerifier, idp: IdentityProvider
) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    await assert_rejected(oidc, rs256(impostor))


async def test_oidc_tampered_payload_is_rejected(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey
) -> None:
    header, _, signature = rs256(rsa_key).split(".")
    forged = f"{header}.{b64json(make_claims(sub='admin'))}.{signature}"
    await assert_rejected(oidc, forged)


async def test_oidc_algorithm_not_matching_the_key_type_is_rejected(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey
) -> None:
    # An RS256 signature that names the EC key: the header's alg does not fit that key.
    token = signed(rsa_key, make_claims(), alg="RS256", kid="ec-1")
    await assert_rejected(oidc, token)


@pytest.mark.parametrize("kid", [None, "rsa-1", "ec-1"])
async def test_oidc_hs256_token_is_rejected_without_fetching_keys(
    oidc: OidcTokenVerifier, idp: IdentityProvider, kid: str | None
) -> None:
    header = {} if kid is None else {"kid": kid}
    await assert_rejected(oidc, hs256(make_claims(), **header))
    assert idp.discovery.call_count == 0
    assert idp.keys.call_count == 0


async def test_oidc_hs256_signed_with_the_public_key_is_rejected(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey
) -> None:
    # The classic key-confusion attack: HMAC keyed with the issuer's published RSA key.
    public_pem = rsa_key.as_pem(private=False)
    signing_input = f"{b64json({'alg': 'HS256', 'kid': 'rsa-1'})}.{b64json(make_claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    await assert_rejected(oidc, f"{signing_input}.{b64url(mac)}")
    assert idp.keys.call_count == 0


@pytest.mark.parametrize("alg", ["none", "RS384", "ES384", "PS256", "EdDSA"])
async def test_oidc_other_algorithms_are_rejected_without_fetching_keys(
    oidc: OidcTokenVerifier, idp: IdentityProvider, alg: str
) -> None:
    header = b64json({"alg": alg, "kid": "rsa-1"})
    await assert_rejected(oidc, f"{header}.{b64json(make_claims())}.")
    assert idp.discovery.call_count == 0


async def test_oidc_token_without_kid_is_rejected_without_fetching_keys(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey
) -> None:
    await assert_rejected(oidc, signed(rsa_key, make_claims(), alg="RS256", kid=None))
    assert idp.discovery.call_count == 0


@pytest.mark.parametrize("kid", [1, None, ["rsa-1"], {"kid": "rsa-1"}], ids=repr)
async def test_oidc_token_with_non_string_kid_is_rejected_without_fetching_keys(
    oidc: OidcTokenVerifier, idp: IdentityProvider, kid: Any
) -> None:
    token = f"{b64json({'alg': 'RS256', 'kid': kid})}.{b64json(make_claims())}.{b64url(b'sig')}"
    await assert_rejected(oidc, token)
    assert idp.discovery.call_count == 0


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "é.é.é", f"{b64json([])}.e30."])
async def test_oidc_malformed_token_is_rejected_without_fetching_keys(
    oidc: OidcTokenVerifier, idp: IdentityProvider, token: str
) -> None:
    await assert_rejected(oidc, token)
    assert idp.discovery.call_count == 0


async def test_oidc_keys_are_cached(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey, ec_key: ECKey
) -> None:
    assert (await oidc.verify(rs256(rsa_key, sub="a"))).subject == "a"
    assert (await oidc.verify(es256(ec_key, sub="b"))).subject == "b"
    assert (await oidc.verify(rs256(rsa_key, sub="c"))).subject == "c"
    assert idp.discovery.call_count == 1
    assert idp.keys.call_count == 1


async def test_oidc_cached_keys_are_not_refetched_when_the_interval_passes(
    oidc: OidcTokenVerifier, idp: IdentityProvider, clock: FakeClock, rsa_key: RSAKey
) -> None:
    # A known kid causes no fetch while the key set is fresh (the JWKS sent no max-age).
    await oidc.verify(rs256(rsa_key))
    clock.advance(JWKS_DEFAULT_MAX_AGE_SECONDS - 1)
    await oidc.verify(rs256(rsa_key))
    assert idp.keys.call_count == 1


async def test_oidc_unknown_kid_is_rejected(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rotated_key: RSAKey
) -> None:
    await assert_rejected(oidc, rs256(rotated_key))
    assert idp.keys.call_count == 1


async def test_oidc_unknown_kid_refetches_at_most_once_per_interval(
    oidc: OidcTokenVerifier,
    idp: IdentityProvider,
    clock: FakeClock,
    rsa_key: RSAKey,
    rotated_key: RSAKey,
) -> None:
    known = rs256(rsa_key)
    unknown = rs256(rotated_key)

    assert (await oidc.verify(known)).subject == "user-1"
    assert (idp.discovery.call_count, idp.keys.call_count) == (1, 1)

    # (a) Unknown kids within the interval are rejected from the cache, without a request.
    for elapsed in (0.0, 1.0, 30.0, JWKS_REFETCH_INTERVAL_SECONDS - 0.5):
        clock.now = 1000.0 + elapsed
        await assert_rejected(oidc, unknown)
        assert (idp.discovery.call_count, idp.keys.call_count) == (1, 1), elapsed

    # (b) Once the interval has passed, one unknown kid triggers exactly one re-fetch...
    clock.now = 1000.0 + JWKS_REFETCH_INTERVAL_SECONDS
    await assert_rejected(oidc, unknown)
    # (the discovery document is read once: only the key set is fetched again)
    assert (idp.discovery.call_count, idp.keys.call_count) == (1, 2)

    # ...and the interval restarts from that fetch.
    clock.advance(JWKS_REFETCH_INTERVAL_SECONDS - 1)
    await assert_rejected(oidc, unknown)
    assert idp.keys.call_count == 2
    clock.advance(1)
    await assert_rejected(oidc, unknown)
    assert idp.keys.call_count == 3

    # Known keys keep working throughout.
    assert (await oidc.verify(known)).subject == "user-1"
    assert idp.keys.call_count == 3


async def test_oidc_rotated_key_is_accepted_after_refetch(
    router: respx.MockRouter,
    http: httpx.AsyncClient,
    clock: FakeClock,
    rsa_key: RSAKey,
    rotated_key: RSAKey,
) -> None:
    router.get(DISCOVERY_URL).mock(return_value=httpx.Response(200, json={"jwks_uri": JWKS_URL}))
    keys = router.get(JWKS_URL).mock(
        side_effect=[
            httpx.Response(200, json=jwks(rsa_key)),
            httpx.Response(200, json=jwks(rotated_key)),
        ]
    )
    verifier = OidcTokenVerifier(ISSUER, http, clock=clock)
    old = rs256(rsa_key, sub="old")
    new = rs256(rotated_key, sub="new")

    assert (await verifier.verify(old)).subject == "old"
    clock.advance(JWKS_REFETCH_INTERVAL_SECONDS / 2)
    await assert_rejected(verifier, new)
    assert keys.call_count == 1

    clock.advance(JWKS_REFETCH_INTERVAL_SECONDS / 2)
    assert (await verifier.verify(new)).subject == "new"
    assert keys.call_count == 2

    # The key set was replaced: the retired key is no longer trusted, and asking for it
    # within the interval does not cause another fetch.
    await assert_rejected(verifier, old)
    assert keys.call_count == 2


async def test_oidc_concurrent_first_requests_fetch_the_keys_once(
    router: respx.MockRouter, http: httpx.AsyncClient, rsa_key: RSAKey
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def slow_discovery(request: httpx.Request) -> httpx.Response:
        entered.set()
        await release.wait()
        return httpx.Response(200, json={"jwks_uri": JWKS_URL})

    discovery = router.get(DISCOVERY_URL).mock(side_effect=slow_discovery)
    keys = router.get(JWKS_URL).mock(return_value=httpx.Response(200, json=jwks(rsa_key)))
    verifier = OidcTokenVerifier(ISSUER, http)
    tokens = [rs256(rsa_key, sub=f"u{n}") for n in range(3)]

    tasks = [asyncio.create_task(verifier.verify(token)) for token in tokens]
    # Once the first verification is inside the fetch, the others (scheduled before this test
    # resumes) have already got as far as waiting for the keys.
    await entered.wait()
    release.set()
    assert [verified.subject for verified in await asyncio.gather(*tasks)] == ["u0", "u1", "u2"]
    assert discovery.call_count == 1
    assert keys.call_count == 1


async def test_oidc_keys_are_fetched_from_the_discovered_jwks_uri(
    router: respx.MockRouter, http: httpx.AsyncClient, rsa_key: RSAKey
) -> None:
    other_uri = "https://cdn.issuer.test/oauth/keys.json"
    router.get(DISCOVERY_URL).mock(return_value=httpx.Response(200, json={"jwks_uri": other_uri}))
    keys = router.get(other_uri).mock(return_value=httpx.Response(200, json=jwks(rsa_key)))
    verifier = OidcTokenVerifier(ISSUER, http)
    token = rs256(rsa_key)
    assert (await verifier.verify(token)).subject == "user-1"
    assert keys.call_count == 1


async def test_oidc_jwks_keys_without_kid_match_their_thumbprint(
    router: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    key = ECKey.generate_key("P-256")
    public = key.as_dict(private=False)
    assert "kid" not in public
    router.get(DISCOVERY_URL).mock(return_value=httpx.Response(200, json={"jwks_uri": JWKS_URL}))
    router.get(JWKS_URL).mock(return_value=httpx.Response(200, json={"keys": [public]}))
    verifier = OidcTokenVerifier(ISSUER, http)
    token = signed(key, make_claims(), alg="ES256", kid=key.thumbprint())
    assert (await verifier.verify(token)).subject == "user-1"


@pytest.mark.parametrize("failing", ["discovery", "keys"])
@pytest.mark.parametrize("status", [404, 500, 503])
async def test_oidc_endpoint_failure_is_an_invalid_token(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey, failing: str, status: int
) -> None:
    route = idp.discovery if failing == "discovery" else idp.keys
    route.mock(return_value=httpx.Response(status, json={"error": "down"}))
    await assert_rejected(oidc, rs256(rsa_key))
    assert route.call_count == 1


@pytest.mark.parametrize("failing", ["discovery", "keys"])
async def test_oidc_network_error_is_an_invalid_token(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey, failing: str
) -> None:
    route = idp.discovery if failing == "discovery" else idp.keys
    route.mock(side_effect=httpx.ConnectError("connection refused"))
    await assert_rejected(oidc, rs256(rsa_key))


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"issuer": ISSUER}),
        httpx.Response(200, json={"jwks_uri": 17}),
    ],
    ids=["not-json", "json-array", "no-jwks-uri", "non-string-jwks-uri"],
)
async def test_oidc_unusable_discovery_document_is_an_invalid_token(
    oidc: OidcTokenVerifier,
    idp: IdentityProvider,
    rsa_key: RSAKey,
    response: httpx.Response,
) -> None:
    idp.discovery.mock(return_value=response)
    await assert_rejected(oidc, rs256(rsa_key))
    assert idp.keys.call_count == 0


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=[]),
        httpx.Response(200, json={"keys": []}),
        httpx.Response(200, json={"keys": [{"kty": "RSA", "kid": "rsa-1"}]}),
        httpx.Response(200, json={"keys": [{"kty": "unknown", "kid": "rsa-1"}]}),
    ],
    ids=["not-json", "json-array", "no-keys", "incomplete-key", "unknown-key-type"],
)
async def test_oidc_unusable_jwks_is_an_invalid_token(
    oidc: OidcTokenVerifier,
    idp: IdentityProvider,
    rsa_key: RSAKey,
    response: httpx.Response,
) -> None:
    idp.keys.mock(return_value=response)
    await assert_rejected(oidc, rs256(rsa_key))


@pytest.mark.parametrize("body", [{}, {"keys": None}], ids=["missing-keys", "null-keys"])
async def test_oidc_jwks_without_a_key_list_is_an_invalid_token(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey, body: dict[str, Any]
) -> None:
    idp.keys.mock(return_value=httpx.Response(200, json=body))
    await assert_rejected(oidc, rs256(rsa_key))


async def test_oidc_failed_fetch_is_retried_after_a_short_pause(
    oidc: OidcTokenVerifier, idp: IdentityProvider, clock: FakeClock, rsa_key: RSAKey
) -> None:
    # A failing issuer is not asked again for every token (the sender picks the kid),
    # but a failed fetch caches nothing: the issuer is asked again after a short pause.
    idp.discovery.mock(
        side_effect=[
            httpx.Response(500),
            httpx.Response(200, json={"jwks_uri": JWKS_URL}),
        ]
    )
    token = rs256(rsa_key)
    await assert_rejected(oidc, token)
    clock.advance(JWKS_RETRY_AFTER_FAILURE_SECONDS - 0.5)
    await assert_rejected(oidc, token)
    assert idp.discovery.call_count == 1

    clock.advance(0.5)
    assert (await oidc.verify(token)).subject == "user-1"
    assert idp.discovery.call_count == 2
    assert idp.keys.call_count == 1


async def test_oidc_discovery_for_another_issuer_is_refused(
    oidc: OidcTokenVerifier, idp: IdentityProvider, rsa_key: RSAKey
) -> None:
    idp.discovery.mock(
        return_value=httpx.Response(200, json={"issuer": "https://evil.test", "jwks_uri": JWKS_URL})
    )

    await assert_rejected(oidc, rs256(rsa_key))
    assert idp.keys.call_count == 0


async def test_oidc_failed_refetch_keeps_the_cached_keys(
    oidc: OidcTokenVerifier,
    idp: IdentityProvider,
    clock: FakeClock,
    rsa_key: RSAKey,
    rotated_key: RSAKey,
) -> None:
    known = rs256(rsa_key)
    assert (await oidc.verify(known)).subject == "user-1"
    idp.keys.mock(return_value=httpx.Response(500))
    clock.advance(JWKS_REFETCH_INTERVAL_SECONDS)
    await assert_rejected(oidc, rs256(rotated_key))
    assert idp.keys.call_count == 2
    assert (await oidc.verify(known)).subject == "user-1"
    assert idp.keys.call_count == 2


# --------------------------------------------------------------------------- identity.setup


def make_settings(
    data_dir: Path,
    *,
    env: Environment = Environment.DEVELOPMENT,
    auth_jwt_secret: str | None = None,
    oidc_issuer: str | None = None,
    oidc_audience: str | None = None,
) -> Settings:
    return Settings(
        data_dir=data_dir,
        env=env,
        auth_jwt_secret=auth_jwt_secret,
        oidc_issuer=oidc_issuer,
        oidc_audience=oidc_audience,
    )


@pytest.fixture
def secret_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "data"


@pytest.mark.parametrize("env", list(Environment))
def test_setup_both_modes_is_a_configuration_error(
    secret_dir: Path, http: httpx.AsyncClient, env: Environment
) -> None:
    settings = make_settings(secret_dir, env=env, auth_jwt_secret=SECRET, oidc_issuer=ISSUER)
    with pytest.raises(AuthConfigurationError, match="not both"):
        setup.build_token_verifier(settings, http)
    assert not secret_dir.exists()


def test_setup_production_without_a_mode_is_a_configuration_error(
    secret_dir: Path, http: httpx.AsyncClient
) -> None:
    settings = make_settings(secret_dir, env=Environment.PRODUCTION)
    with pytest.raises(AuthConfigurationError, match="production"):
        setup.build_token_verifier(settings, http)
    assert not secret_dir.exists()


def test_setup_production_with_a_short_secret_is_a_configuration_error(
    secret_dir: Path, http: httpx.AsyncClient
) -> None:
    settings = make_settings(secret_dir, env=Environment.PRODUCTION, auth_jwt_secret="too-short")
    with pytest.raises(AuthConfigurationError):
        setup.build_token_verifier(settings, http)


async def test_setup_configured_secret_builds_an_hmac_verifier(
    secret_dir: Path, http: httpx.AsyncClient
) -> None:
    settings = make_settings(secret_dir, env=Environment.PRODUCTION, auth_jwt_secret=SECRET)
    verifier = setup.build_token_verifier(settings, http)
    assert isinstance(verifier, HmacTokenVerifier)
    assert (await verifier.verify(issue_token(SECRET, "frank"))).subject == "frank"
    assert not secret_dir.exists()


async def test_setup_oidc_builds_an_oidc_verifier_with_the_audience(
    secret_dir: Path, http: httpx.AsyncClient, idp: IdentityProvider, rsa_key: RSAKey
) -> None:
    settings = make_settings(
        secret_dir, env=Environment.PRODUCTION, oidc_issuer=ISSUER, oidc_audience=AUDIENCE
    )
    verifier = setup.build_token_verifier(settings, http)
    assert isinstance(verifier, OidcTokenVerifier)
    good = rs256(rsa_key, aud=AUDIENCE)
    assert (await verifier.verify(good)).subject == "user-1"
    await assert_rejected(verifier, rs256(rsa_key))
    await assert_rejected(verifier, hs256(make_claims(aud=AUDIENCE)))
    assert not secret_dir.exists()


async def test_setup_development_creates_a_private_secret_file(
    secret_dir: Path, http: httpx.AsyncClient
) -> None:
    verifier = setup.build_token_verifier(make_settings(secret_dir), http)
    assert isinstance(verifier, HmacTokenVerifier)

    secret_file = secret_dir / setup.DEV_SECRET_FILE
    assert secret_file.is_file()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text()
    assert len(secret) >= MIN_SECRET_LENGTH
    assert (await verifier.verify(issue_token(secret, "grace"))).subject == "grace"
    await assert_rejected(verifier, issue_token(OTHER_SECRET, "grace"))


async def test_setup_development_reuses_the_secret(
    secret_dir: Path, http: httpx.AsyncClient
) -> None:
    settings = make_settings(secret_dir)
    first = setup.build_token_verifier(settings, http)
    secret = (secret_dir / setup.DEV_SECRET_FILE).read_text()
    second = setup.build_token_verifier(settings, http)

    assert (secret_dir / setup.DEV_SECRET_FILE).read_text() == secret
    assert setup.signing_secret(settings, create=False) == secret
    token = issue_token(secret, "heidi")
    assert (await first.verify(token)).subject == "heidi"
    assert (await second.verify(token)).subject == "heidi"


def test_setup_development_secrets_differ_between_data_dirs(tmp_path: Path) -> None:
    one = setup.signing_secret(make_settings(tmp_path / "one"), create=True)
    two = setup.signing_secret(make_settings(tmp_path / "two"), create=True)
    assert one != two


def test_signing_secret_reads_an_existing_file_stripped(secret_dir: Path) -> None:
    secret_dir.mkdir(parents=True)
    (secret_dir / setup.DEV_SECRET_FILE).write_text(f"  {SECRET}\n")
    assert setup.signing_secret(make_settings(secret_dir), create=False) == SECRET


def test_signing_secret_prefers_the_configured_secret(secret_dir: Path) -> None:
    settings = make_settings(secret_dir, auth_jwt_secret=SECRET)
    assert setup.signing_secret(settings, create=True) == SECRET
    assert not secret_dir.exists()


def test_signing_secret_without_create_does_not_make_one(secret_dir: Path) -> None:
    with pytest.raises(AuthConfigurationError, match="No signing secret"):
        setup.signing_secret(make_settings(secret_dir), create=False)
    assert not secret_dir.exists()


@pytest.mark.parametrize("auth_jwt_secret", [None, SECRET])
def test_signing_secret_with_oidc_is_a_configuration_error(
    secret_dir: Path, auth_jwt_secret: str | None
) -> None:
    settings = make_settings(secret_dir, oidc_issuer=ISSUER, auth_jwt_secret=auth_jwt_secret)
    with pytest.raises(AuthConfigurationError, match="OIDC_ISSUER"):
        setup.signing_secret(settings, create=True)
    assert not secret_dir.exists()


def test_signing_secret_in_production_without_a_mode_is_a_configuration_error(
    secret_dir: Path,
) -> None:
    with pytest.raises(AuthConfigurationError, match="production"):
        setup.signing_secret(make_settings(secret_dir, env=Environment.PRODUCTION), create=True)
    assert not secret_dir.exists()


def test_blank_settings_count_as_unset(secret_dir: Path, http: httpx.AsyncClient) -> None:
    settings = make_settings(secret_dir, auth_jwt_secret="  ", oidc_issuer="")
    verifier = setup.build_token_verifier(settings, http)
    assert isinstance(verifier, HmacTokenVerifier)
    assert (secret_dir / setup.DEV_SECRET_FILE).is_file()


def test_settings_from_the_environment_choose_the_mode(
    monkeypatch: pytest.MonkeyPatch, secret_dir: Path, http: httpx.AsyncClient
) -> None:
    monkeypatch.setenv("SSELFIE_DATA_DIR", str(secret_dir))
    monkeypatch.setenv("SSELFIE_ENV", "production")
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    with pytest.raises(AuthConfigurationError, match="not both"):
        setup.build_token_verifier(Settings(), http)
    monkeypatch.delenv("AUTH_JWT_SECRET")
    assert isinstance(setup.build_token_verifier(Settings(), http), OidcTokenVerifier)
