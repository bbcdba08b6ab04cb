from dataclasses import dataclass, field
from typing import TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.errors import Unauthenticated
from domain.images import ImageSize
from domain.users.models import User
from request_context.loaders import Loaders
from request_context.services import Services


@dataclass(frozen=True)
class Credentials:
    """What the request's bearer token established."""

    user: User | None = None
    presented: bool = False
    # The token's expiry (seconds since the epoch), when it was accepted.
    expires_at: float | None = None

    @property
    def rejected(self) -> bool:
        return self.presented and self.user is None

    def seconds_left(self, now: float) -> float:
        """How long these credentials stay valid from `now` (0 when expired or absent)."""
        if self.user is None or self.expires_at is None:
            return 0.0
        return max(self.expires_at - now, 0.0)


@dataclass
class RequestContext:
    services: Services
    request_id: str
    request: Request | WebSocket
    response: Response | WebSocket | None
    # "scheme://host[:port]" this server is reached at, for absolute URLs.
    public_origin: str = ""
    credentials: Credentials = field(default_factory=Credentials)
    # Set by Strawberry from the graphql-transport-ws connection_init payload.
    connection_params: dict[str, object] | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.renew_loaders()

    def renew_loaders(self) -> None:
        """Fresh DataLoaders: a subscription calls this for every event it sends, since
        one WebSocket context lives for the whole connection and loaders cache."""
        self.loaders = Loaders(self.services, lambda: self.user)

    def image_url(self, image_id: str, size: ImageSize = ImageSize.ORIGINAL) -> str:
        """An absolute, signed, expiring URL of a stored image in `size`: a browser on
        another origin can show it in an `<img>` with no credentials."""
        return self.public_origin + self.services.image_urls.url(image_id, size)

    @property
    def user(self) -> User:
        if self.credentials.user is None:
            raise Unauthenticated("Sign in: send `Authorization: Bearer <token>`.")
        return self.credentials.user


Info: TypeAlias = strawberry.Info[RequestContext, None]
