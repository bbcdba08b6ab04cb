"""Sign-in: verifying bearer tokens (HS256 secret or an OIDC issuer's keys)."""

from identity.tokens import (
    AuthConfigurationError,
    HmacTokenVerifier,
    InvalidToken,
    OidcTokenVerifier,
    TokenVerifier,
    VerifiedToken,
    issue_token,
)

__all__ = [
    "AuthConfigurationError",
    "HmacTokenVerifier",
    "InvalidToken",
    "OidcTokenVerifier",
    "TokenVerifier",
    "VerifiedToken",
    "issue_token",
]
