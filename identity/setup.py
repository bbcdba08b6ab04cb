"""Choosing the sign-in mode from the settings."""

import logging
import os
import secrets
from pathlib import Path

import httpx

from identity.tokens import (
    AuthConfigurationError,
    HmacTokenVerifier,
    OidcTokenVerifier,
    TokenVerifier,
)
from settings import Settings

log = logging.getLogger(__name__)

DEV_SECRET_FILE = "jwt-secret"  # noqa: S105 (a file name)


def development_secret(data_dir: Path, *, create: bool) -> str | None:
    """The development signing secret kept in the data directory (made on first use)."""
    path = data_dir / DEV_SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    if not create:
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret)
    log.warning(
        "No AUTH_JWT_SECRET or OIDC_ISSUER is set: created a development signing secret in %s. "
        "Print a token with `sselfie token <subject>`.",
        path,
    )
    return secret


def signing_secret(settings: Settings, *, create: bool) -> str:
    """The HS256 secret tokens are signed with, for `sselfie serve` and `sselfie token`."""
    if settings.oidc_issuer:
        raise AuthConfigurationError(
            "OIDC_ISSUER is set: tokens come from that issuer, not from this server."
        )
    if settings.auth_jwt_secret:
        return settings.auth_jwt_secret
    if settings.is_production:
        raise AuthConfigurationError(
            "SSELFIE_ENV=production needs a sign-in mode: set AUTH_JWT_SECRET (HS256) "
            "or OIDC_ISSUER (and OIDC_AUDIENCE)."
        )
    secret = development_secret(settings.data_dir, create=create)
    if secret is None:
        raise AuthConfigurationError(
            f"No signing secret yet in {settings.data_dir}: start `sselfie serve` once "
            "or set AUTH_JWT_SECRET."
        )
    return secret


def check_sign_in_settings(settings: Settings) -> None:
    """Refuses unusable sign-in settings (and makes the development secret) up front."""
    if settings.oidc_issuer and settings.auth_jwt_secret:
        raise AuthConfigurationError("Set AUTH_JWT_SECRET or OIDC_ISSUER, not both.")
    if settings.oidc_issuer and (settings.auth_jwt_issuer or settings.auth_jwt_audience):
        raise AuthConfigurationError(
            "AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE are for HS256 tokens: with OIDC_ISSUER "
            "set OIDC_AUDIENCE instead."
        )
    if not settings.oidc_issuer:
        _hmac_verifier(settings)


def _hmac_verifier(settings: Settings) -> HmacTokenVerifier:
    return HmacTokenVerifier(
        signing_secret(settings, create=True),
        issuer=settings.auth_jwt_issuer,
        audience=settings.auth_jwt_audience,
    )


def build_token_verifier(settings: Settings, http: httpx.AsyncClient) -> TokenVerifier:
    check_sign_in_settings(settings)
    if settings.oidc_issuer:
        return OidcTokenVerifier(settings.oidc_issuer, http, audience=settings.oidc_audience)
    return _hmac_verifier(settings)
