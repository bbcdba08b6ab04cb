"""Bearer JWT verification with joserfc.

Two modes: a shared secret (HS256 only) or an OIDC issuer whose keys come from its
discovery document and JWKS (RS256/ES256 only). The issuer's key set is cached for its
`Cache-Control: max-age` (clamped to [5 min, 1 h]; 5 min when absent), re-fetched on an
unknown `kid` at most once a minute, and replaced whole by every successful fetch.
"""

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

log = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 32
OIDC_ALGORITHMS = ("RS256", "ES256")
JWKS_REFETCH_INTERVAL_SECONDS = 60.0
JWKS_RETRY_AFTER_FAILURE_SECONDS = 10.0
JWKS_MIN_MAX_AGE_SECONDS = 300.0
JWKS_MAX_MAX_AGE_SECONDS = 3600.0
JWKS_DEFAULT_MAX_AGE_SECONDS = JWKS_MIN_MAX_AGE_SECONDS
# How long past their max-age cached keys still verify while the issuer cannot be reached.
JWKS_STALE_GRACE_SECONDS = 3600.0
CLOCK_LEEWAY_SECONDS = 30
# 9999-12-31T23:59:59Z: a later `exp` is no date any clock or datetime can hold.
MAX_EXPIRY = 253_402_300_799


class InvalidToken(Exception):
    """The credentials are missing, malformed, wrongly signed, expired or not for us."""


class AuthConfigurationError(Exception):
    """The sign-in settings are unusable; the message says what to set."""


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    # The token's `exp` claim: seconds since the epoch.
    expires_at: float


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> VerifiedToken:
        """The token's subject and expiry; raises InvalidToken."""
        ...


def _expiry(claims: dict[str, Any]) -> float:
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise InvalidToken("the token's expiry (exp) must be a number")
    if isinstance(exp, float) and not math.isfinite(exp):
        raise InvalidToken("the token's expiry (exp) must be a finite number")
    if not 0 < exp <= MAX_EXPIRY:
        raise InvalidToken("the token's expiry (exp) is out of range")
    return float(exp)


def _validate_claims(
    claims: dict[str, Any], *, issuer: str | None, audience: str | None
) -> VerifiedToken:
    expires_at = _expiry(claims)
    options: dict[str, Any] = {"exp": {"essential": True}, "sub": {"essential": True}}
    if issuer is not None:
        options["iss"] = {"essential": True, "value": issuer}
    if audience is not None:
        options["aud"] = {"essential": True, "value": audience}
    try:
        jwt.JWTClaimsRegistry(leeway=CLOCK_LEEWAY_SECONDS, **options).validate(claims)
    except JoseError as error:
        raise InvalidToken(error.description or error.error) from error
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("the token's subject must be a non-empty string")
    return VerifiedToken(subject=subject, expires_at=expires_at)


class HmacTokenVerifier:
    """HS256 with a shared secret; `iss` and `aud` are checked when configured."""

    def __init__(
        self, secret: str, *, issuer: str | None = None, audience: str | None = None
    ) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise AuthConfigurationError(
                f"AUTH_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters long."
            )
        self._key = OctKey.import_key(secret)
        self._issuer = issuer
        self._audience = audience

    async def verify(self, token: str) -> VerifiedToken:
        try:
            decoded = jwt.decode(token, self._key, algorithms=["HS256"])
        except (JoseError, ValueError) as error:
            raise InvalidToken("the token is malformed or its signature is wrong") from error
        return _validate_claims(decoded.claims, issuer=self._issuer, audience=self._audience)


def issue_token(
    secret: str,
    subject: str,
    *,
    ttl_seconds: int = 24 * 3600,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """An HS256 token for `subject`, as `sselfie token` prints it."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + ttl_seconds}
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret))


def jwks_max_age(cache_control: Iterable[str]) -> float:
    """How long a fetched key set stays fresh: its `max-age`, clamped to the bounds."""
    ages: list[str] = []
    for header in cache_control:
        for directive in header.split(","):
            name, _, value = directive.strip().partition("=")
            if name.strip().lower() == "max-age":
                ages.append(value.strip().strip('"'))
    if len(ages) != 1 or not ages[0].isascii() or not ages[0].isdigit():
        return JWKS_DEFAULT_MAX_AGE_SECONDS
    return min(max(float(ages[0]), JWKS_MIN_MAX_AGE_SECONDS), JWKS_MAX_MAX_AGE_SECONDS)


@dataclass(frozen=True)
class _CachedKeys:
    keys: KeySet
    # On the verifier's clock: after `stale_at` the next verification re-fetches; if that
    # fails the keys still serve until `usable_until`, then nothing does.
    stale_at: float
    usable_until: float

    def has(self, kid: str) -> bool:
        return any(key.kid == kid for key in self.keys.keys)


class OidcTokenVerifier:
    def __init__(
        self,
        issuer: str,
        http: httpx.AsyncClient,
        *,
        audience: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._http = http
        self._clock = clock
        self._cached: _CachedKeys | None = None
        self._jwks_uri: str | None = None
        self._next_fetch_at: float | None = None
        self._refresh_lock = asyncio.Lock()

    async def verify(self, token: str) -> VerifiedToken:
        kid, alg = self._header(token)
        keys = await self._keys_with(kid)
        try:
            decoded = jwt.decode(token, keys, algorithms=[alg])
        except (JoseError, ValueError) as error:
            raise InvalidToken("the token is malformed or its signature is wrong") from error
        return _validate_claims(decoded.claims, issuer=self._issuer, audience=self._audience)

    @staticmethod
    def _header(token: str) -> tuple[str, str]:
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError) as error:
            raise InvalidToken("the token is malformed") from error
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in OIDC_ALGORITHMS:
            raise InvalidToken(f"tokens must be signed with one of {', '.join(OIDC_ALGORITHMS)}")
        if not isinstance(kid, str):
            raise InvalidToken("the token names no key (kid)")
        return kid, alg

    async def _keys_with(self, kid: str) -> KeySet:
        cached = self._cached
        if cached is not None and cached.has(kid) and self._clock() < cached.stale_at:
            return cached.keys
        async with self._refresh_lock:
            if self._needs_fetch(kid) and self._may_fetch():
                await self._refresh()
        cached = self._usable()
        if cached is None:
            raise InvalidToken("the issuer's keys could not be fetched")
        if not cached.has(kid):
            raise InvalidToken("the token was signed with a key the issuer does not publish")
        return cached.keys

    def _needs_fetch(self, kid: str) -> bool:
        cached = self._cached
        return cached is None or not cached.has(kid) or self._clock() >= cached.stale_at

    def _may_fetch(self) -> bool:
        return self._next_fetch_at is None or self._clock() >= self._next_fetch_at

    def _usable(self) -> _CachedKeys | None:
        if self._cached is not None and self._clock() >= self._cached.usable_until:
            log.warning("the OIDC issuer's cached keys are too old to trust: dropped them")
            self._cached = None
        return self._cached

    async def _refresh(self) -> None:
        try:
            keys, max_age = await self._fetch_keys()
        except InvalidToken:
            # The sender chooses the kid: a failing issuer is not asked again at once.
            # Keys already cached go on serving until they are too old (see _usable).
            self._next_fetch_at = self._clock() + JWKS_RETRY_AFTER_FAILURE_SECONDS
            return
        now = self._clock()
        self._cached = _CachedKeys(
            keys, stale_at=now + max_age, usable_until=now + max_age + JWKS_STALE_GRACE_SECONDS
        )
        self._next_fetch_at = now + JWKS_REFETCH_INTERVAL_SECONDS

    async def _fetch_keys(self) -> tuple[KeySet, float]:
        try:
            jwks_uri = self._jwks_uri or await self._discover_jwks_uri()
            response = await self._get(jwks_uri)
            key_set = KeySet.import_key_set(_json_object(response))  # type: ignore[arg-type]
        except (httpx.HTTPError, ValueError, KeyError, TypeError, JoseError) as error:
            log.warning("could not fetch the OIDC issuer's keys: %s", error)
            raise InvalidToken("the issuer's keys could not be fetched") from error
        self._jwks_uri = jwks_uri
        max_age = jwks_max_age(response.headers.get_list("cache-control"))
        log.info(
            "fetched %d signing keys from %s (fresh for %.0f s)",
            len(key_set.keys),
            jwks_uri,
            max_age,
        )
        return key_set, max_age

    async def _discover_jwks_uri(self) -> str:
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        discovery = _json_object(await self._get(url))
        issuer, jwks_uri = discovery.get("issuer"), discovery.get("jwks_uri")
        if isinstance(issuer, str) and issuer.rstrip("/") != self._issuer.rstrip("/"):
            raise ValueError(f"the discovery document is for another issuer ({issuer})")
        if not isinstance(jwks_uri, str):
            raise ValueError("the issuer's discovery document names no jwks_uri")
        return jwks_uri

    async def _get(self, url: str) -> httpx.Response:
        response = await self._http.get(url)
        response.raise_for_status()
        return response


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"{response.url} did not return a JSON object")
    return body
