"""The claims both verifiers insist on: a finite `exp` in range, and in HS256 mode the
configured `iss` and `aud`; `sselfie token` issues tokens that pass those checks."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from joserfc import jws
from joserfc.jwk import OctKey, RSAKey

from identity import setup
from identity.tokens import (
    AuthConfigurationError,
    HmacTokenVerifier,
    InvalidToken,
    OidcTokenVerifier,
    VerifiedToken,
    issue_token,
)
from server import cli
from settings import Settings

SECRET = "a-signing-secret-that-is-long-enough-for-hs256"
HS_ISSUER = "https://sselfie.test"
HS_AUDIENCE = "sselfie-api"
OIDC_ISSUER = "https://issuer.test"
JWKS_URL = f"{OIDC_ISSUER}/jwks"
MANY_DIGITS = "9" * 5000  # more digits than Python turns into an int by default

AUTH_ENV_VARS = (
    "AUTH_JWT_SECRET",
    "AUTH_JWT_ISSUER",
    "AUTH_JWT_AUDIENCE",
    "OIDC_ISSUER",
    "OIDC_AUDIENCE",
    "SSELFIE_ENV",
    "SSELFIE_DATA_DIR",
)

# `exp` as the JSON text of the payload carries it: Python's json reads NaN, Infinity
# and 1e999 (as inf), so these reach the verifier as floats.
BAD_EXPIRIES = {
    "nan": "NaN",
    "infinity": "Infinity",
    "minus-infinity": "-Infinity",
    "overflowing-float": "1e999",
    "huge-float": "1e300",
    "huge-int": "1" + "0" * 30,
    "too-many-digits": MANY_DIGITS,
    "past-year-9999": "253402300800",
    "zero": "0",
    "negative": "-1",
    "string": '"4102444800"',
    "true": "true",
    "false": "false",
    "null": "null",
    "list": "[4102444800]",
    "object": '{"at": 4102444800}',
}


@pytest.fixture(autouse=True)
def _clean_auth_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AUTH_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture
def router(rsa_key: RSAKey) -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock.get(f"{OIDC_ISSUER}/.well-known/openid-configuration").mock(
            return_value=httpx.Response(200, json={"issuer": OIDC_ISSUER, "jwks_uri": JWKS_URL})
        )
        mock.get(JWKS_URL).mock(
            return_value=httpx.Response(200, json={"keys": [rsa_key.as_dict(private=False)]})
        )
        yield mock


def payload_text(exp: str, **claims: Any) -> bytes:
    """A claims object whose `exp` is the given JSON text, verbatim."""
    parts = [f'"{name}": "{value}"' for name, value in {"sub": "alice", **claims}.items()]
    parts.append(f'"exp": {exp}')
    return ("{" + ", ".join(parts) + "}").encode()


def hs256(payload: bytes, secret: str = SECRET) -> str:
    return jws.serialize_compact({"alg": "HS256"}, payload, OctKey.import_key(secret))


def rs256(payload: bytes, key: RSAKey) -> str:
    return jws.serialize_compact({"alg": "RS256", "kid": "rsa-1"}, payload, key)


def in_ten_minutes() -> str:
    return str(int(time.time()) + 600)


# --------------------------------------------------------------------------- exp


@pytest.mark.parametrize("exp", BAD_EXPIRIES.values(), ids=BAD_EXPIRIES.keys())
async def test_hs256_token_whose_exp_is_not_a_finite_date_is_rejected(exp: str) -> None:
    with pytest.raises(InvalidToken):
        await HmacTokenVerifier(SECRET).verify(hs256(payload_text(exp)))


@pytest.mark.parametrize("exp", BAD_EXPIRIES.values(), ids=BAD_EXPIRIES.keys())
async def test_oidc_token_whose_exp_is_not_a_finite_date_is_rejected(
    router: respx.MockRouter, rsa_key: RSAKey, exp: str
) -> None:
    async with httpx.AsyncClient() as http:
        verifier = OidcTokenVerifier(OIDC_ISSUER, http)
        with pytest.raises(InvalidToken):
            await verifier.verify(rs256(payload_text(exp, iss=OIDC_ISSUER), rsa_key))


async def test_the_verified_token_carries_its_expiry(
    router: respx.MockRouter, rsa_key: RSAKey
) -> None:
    exp = time.time() + 600.25
    hs_token = hs256(payload_text(repr(exp)))
    async with httpx.AsyncClient() as http:
        oidc_token = rs256(payload_text(repr(exp), iss=OIDC_ISSUER), rsa_key)
        oidc = await OidcTokenVerifier(OIDC_ISSUER, http).verify(oidc_token)

    assert await HmacTokenVerifier(SECRET).verify(hs_token) == VerifiedToken("alice", exp)
    assert oidc == VerifiedToken("alice", exp)


async def test_an_expiry_on_the_last_second_of_year_9999_is_accepted() -> None:
    verified = await HmacTokenVerifier(SECRET).verify(hs256(payload_text("253402300799")))
    assert verified.expires_at == 253_402_300_799


# --------------------------------------------------------------------------- HS256 iss / aud


@pytest.fixture
def strict() -> HmacTokenVerifier:
    return HmacTokenVerifier(SECRET, issuer=HS_ISSUER, audience=HS_AUDIENCE)


async def test_hs256_token_with_the_configured_issuer_and_audience_is_accepted(
    strict: HmacTokenVerifier,
) -> None:
    token = issue_token(SECRET, "alice", issuer=HS_ISSUER, audience=HS_AUDIENCE)
    assert (await strict.verify(token)).subject == "alice"


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": HS_AUDIENCE},
        {"iss": HS_ISSUER},
        {"iss": "https://elsewhere.test", "aud": HS_AUDIENCE},
        {"iss": f"{HS_ISSUER}/", "aud": HS_AUDIENCE},
        {"iss": HS_ISSUER, "aud": "another-api"},
        {"iss": HS_ISSUER, "aud": ""},
    ],
    ids=[
        "no-iss",
        "no-aud",
        "other-iss",
        "iss-with-slash",
        "other-aud",
        "empty-aud",
    ],
)
async def test_hs256_token_without_the_configured_issuer_or_audience_is_rejected(
    strict: HmacTokenVerifier, claims: dict[str, str]
) -> None:
    with pytest.raises(InvalidToken):
        await strict.verify(hs256(payload_text(in_ten_minutes(), **claims)))


async def test_hs256_audience_may_be_one_of_a_list(strict: HmacTokenVerifier) -> None:
    now = int(time.time())
    payload = (
        f'{{"sub": "alice", "iss": "{HS_ISSUER}", "aud": ["other", "{HS_AUDIENCE}"], '
        f'"exp": {now + 600}}}'
    ).encode()
    assert (await strict.verify(hs256(payload))).subject == "alice"


async def test_hs256_checks_only_what_is_configured() -> None:
    only_issuer = HmacTokenVerifier(SECRET, issuer=HS_ISSUER)
    token = hs256(payload_text(in_ten_minutes(), iss=HS_ISSUER, aud="anything"))
    assert (await only_issuer.verify(token)).subject == "alice"
    with pytest.raises(InvalidToken):
        await only_issuer.verify(hs256(payload_text(in_ten_minutes(), aud=HS_AUDIENCE)))


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", **values)


async def test_setup_wires_auth_jwt_issuer_and_audience(tmp_path: Path) -> None:
    configured = settings(
        tmp_path, auth_jwt_secret=SECRET, auth_jwt_issuer=HS_ISSUER, auth_jwt_audience=HS_AUDIENCE
    )
    async with httpx.AsyncClient() as http:
        verifier = setup.build_token_verifier(configured, http)

    good = issue_token(SECRET, "alice", issuer=HS_ISSUER, audience=HS_AUDIENCE)
    assert (await verifier.verify(good)).subject == "alice"
    with pytest.raises(InvalidToken):
        await verifier.verify(issue_token(SECRET, "alice"))


@pytest.mark.parametrize("setting", ["auth_jwt_issuer", "auth_jwt_audience"])
async def test_auth_jwt_issuer_or_audience_with_oidc_is_a_configuration_error(
    tmp_path: Path, setting: str
) -> None:
    configured = settings(
        tmp_path, oidc_issuer=OIDC_ISSUER, oidc_audience=HS_AUDIENCE, **{setting: "x"}
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthConfigurationError, match="OIDC_AUDIENCE"):
            setup.build_token_verifier(configured, http)


async def test_sselfie_token_carries_the_configured_issuer_and_audience(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SSELFIE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AUTH_JWT_ISSUER", HS_ISSUER)
    monkeypatch.setenv("AUTH_JWT_AUDIENCE", HS_AUDIENCE)

    assert cli.main(["token", "alice", "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()

    async with httpx.AsyncClient() as http:
        verifier = setup.build_token_verifier(Settings(), http)
    verified = await verifier.verify(token)
    assert verified.subject == "alice"
    assert time.time() < verified.expires_at <= time.time() + 120
    secret = setup.signing_secret(Settings(), create=False)
    with pytest.raises(InvalidToken):
        await verifier.verify(issue_token(secret, "alice", issuer=HS_ISSUER))
