"""Bearer JWT verification with joserfc.

Two modes: a shared secret (HS256 only) or an OIDC issuer whose keys come from its
discovery document and JWKS (RS256/ES256 only), cached and re-fetched on an unknown
`kid` at most once a minute.
"""

import asyncio
import logging
import time
from collections.abc import Callable
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
CLOCK_LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """The credentials are missing, malformed, wrongly signed, expired or not for us."""


class AuthConfigurationError(Exception):
    """The sign-in settings are unusable; the message says what to set."""


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> str:
        """The token's subject; raises InvalidToken."""
        ...


def _validate_claims(claims: dict[str, Any], *, issuer: str | None, audience: str | None) -> str:
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
    return subject


class HmacTokenVerifier:
    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise AuthConfigurationError(
                f"AUTH_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters long."
            )
        self._key = OctKey.import_key(secret)

    async def verify(self, token: str) -> str:
        try:
            decoded = jwt.decode(token, self._key, algorithms=["HS256"])
        except (JoseError, ValueError) as error:
            raise InvalidToken("the token is malformed or its signature is wrong") from error
        return _validate_claims(decoded.claims, issuer=None, audience=None)


def issue_token(secret: str, subject: str, *, ttl_seconds: int = 24 * 3600) -> str:
    """An HS256 token for `subject`, as `sselfie token` prints it."""
    now = int(time.time())
    claims = {"sub": subject, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret))


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
        self._keys: KeySet | None = None
        self._jwks_uri: str | None = None
        self._next_fetch_at: float | None = None
        self._refresh_lock = asyncio.Lock()

    async def verify(self, token: str) -> str:
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
        if self._keys is not None and self._has(self._keys, kid):
            return self._keys
        async with self._refresh_lock:
            if (self._keys is None or not self._has(self._keys, kid)) and self._may_fetch():
                await self._refresh()
        if self._keys is None or not self._has(self._keys, kid):
            raise InvalidToken("the token was signed with a key the issuer does not publish")
        return self._keys

    def _may_fetch(self) -> bool:
        return self._next_fetch_at is None or self._clock() >= self._next_fetch_at

    async def _refresh(self) -> None:
        try:
            self._keys = await self._fetch_keys()
        except InvalidToken:
            # The sender chooses the kid: a failing issuer is not asked again at once.
            self._next_fetch_at = self._clock() + JWKS_RETRY_AFTER_FAILURE_SECONDS
            raise
        self._next_fetch_at = self._clock() + JWKS_REFETCH_INTERVAL_SECONDS

    @staticmethod
    def _has(keys: KeySet, kid: str) -> bool:
        return any(key.kid == kid for key in keys.keys)

    async def _fetch_keys(self) -> KeySet:
        try:
            jwks_uri = self._jwks_uri or await self._discover_jwks_uri()
            key_set = KeySet.import_key_set(await self._get_json(jwks_uri))  # type: ignore[arg-type]
        except (httpx.HTTPError, ValueError, KeyError, TypeError, JoseError) as error:
            log.warning("could not fetch the OIDC issuer's keys: %s", error)
            raise InvalidToken("the issuer's keys could not be fetched") from error
        self._jwks_uri = jwks_uri
        log.info("fetched %d signing keys from %s", len(key_set.keys), jwks_uri)
        return key_set

    async def _discover_jwks_uri(self) -> str:
        discovery = await self._get_json(
            self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        )
        issuer, jwks_uri = discovery.get("issuer"), discovery.get("jwks_uri")
        if isinstance(issuer, str) and issuer.rstrip("/") != self._issuer.rstrip("/"):
            raise ValueError(f"the discovery document is for another issuer ({issuer})")
        if not isinstance(jwks_uri, str):
            raise ValueError("the issuer's discovery document names no jwks_uri")
        return jwks_uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"{url} did not return a JSON object")
        return body
