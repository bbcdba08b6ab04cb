"""Strawberry on Starlette: the request context, sign-in over HTTP and WebSocket."""

import uuid
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from resolvers.context import RequestContext
from schema.extensions import UNAUTHENTICATED_MESSAGE
from server.runtime import Runtime

REQUEST_ID_HEADER = "X-Request-Id"


def _runtime(connection: Request | WebSocket) -> Runtime:
    return cast(Runtime, connection.app.state.runtime)


class GraphQLView(GraphQL[RequestContext, None]):
    def __init__(self, schema: object, *, production: bool) -> None:
        super().__init__(
            schema,  # type: ignore[arg-type]
            graphql_ide=None if production else "graphiql",
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            multipart_uploads_enabled=True,
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        runtime = _runtime(request)
        request_id = uuid.uuid4().hex
        context = RequestContext(
            services=runtime.services,
            request_id=request_id,
            request=request,
            response=response,
        )
        if isinstance(request, Request):
            context.credentials = await runtime.authenticator.authenticate(
                request.headers.get("authorization")
            )
        if isinstance(response, Response):
            response.headers[REQUEST_ID_HEADER] = request_id
        return context

    async def on_ws_connect(self, context: RequestContext) -> None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        authorization = next(
            (value for key, value in params.items() if key.lower() == "authorization"), None
        )
        credentials = await _runtime(context.request).authenticator.authenticate(
            authorization if isinstance(authorization, str) else None
        )
        if credentials.user is None:
            raise ConnectionRejectionError(
                {"message": UNAUTHENTICATED_MESSAGE, "code": "UNAUTHENTICATED"}
            )
        context.credentials = credentials
