"""From an `Authorization` value to the signed-in user."""

import logging

from domain.errors import Unauthenticated
from domain.users.service import UserService
from identity import InvalidToken, TokenVerifier
from request_context.context import Credentials

log = logging.getLogger(__name__)

MAX_AUTHORIZATION_LENGTH = 8_192


class Authenticator:
    def __init__(self, verifier: TokenVerifier, users: UserService) -> None:
        self._verifier = verifier
        self._users = users

    async def authenticate(self, authorization: str | None) -> Credentials:
        if authorization is None:
            return Credentials()
        token = _bearer_token(authorization)
        if token is None:
            return Credentials(presented=True)
        try:
            verified = await self._verifier.verify(token)
            user = await self._users.sign_in(verified.subject)
        except (InvalidToken, Unauthenticated) as error:
            log.info("rejected credentials: %s", error)
            return Credentials(presented=True)
        return Credentials(user=user, presented=True, expires_at=verified.expires_at)


def _bearer_token(authorization: str) -> str | None:
    if len(authorization) > MAX_AUTHORIZATION_LENGTH:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
