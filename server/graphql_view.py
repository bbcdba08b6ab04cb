"""Strawberry on Starlette: the request context, sign-in over HTTP and WebSocket, automatic
persisted queries, and the HTTP side of answers (status, media type, headers)."""

import dataclasses
from collections.abc import Sequence
from typing import cast

from cross_web import AsyncHTTPRequestAdapter
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from domain.errors import ErrorCode
from persistence.connection_share import share_connections
from request_context.context import RequestContext
from schema.extensions import UNAUTHENTICATED_MESSAGE
from server.graphiql import graphiql_page_response
from server.persisted_queries import PersistedQueryError
from server.request_ids import bind_signed_in, request_id_of
from server.runtime import Runtime
from server.upload_auth import verified_credentials
from server.websocket_auth import SignedInTransportWSHandler

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# A document that never ran: what the GraphQL-over-HTTP spec answers 4xx for.
_REQUEST_ERROR_CODES = frozenset(
    {ErrorCode.GRAPHQL_PARSE_FAILED.value, ErrorCode.GRAPHQL_VALIDATION_FAILED.value}
)
_NOT_REGISTERED_AFTER = _REQUEST_ERROR_CODES | {ErrorCode.UNAUTHENTICATED.value}


def _runtime(connection: Request | WebSocket) -> Runtime:
    return cast(Runtime, connection.app.state.runtime)


def _public_origin(connection: Request | WebSocket, configured: str | None) -> str:
    """Where this server is reached: PUBLIC_BASE_URL, else the request's own scheme and host."""
    if configured:
        return configured
    scheme = "https" if connection.url.scheme in ("https", "wss") else "http"
    return f"{scheme}://{connection.url.netloc}"


def _accepts_graphql_response_json(accept: str) -> bool:
    for part in accept.split(","):
        media_type, *parameters = (piece.strip() for piece in part.split(";"))
        if media_type.lower() == GRAPHQL_RESPONSE_JSON:
            return not any(
                parameter.replace(" ", "") in ("q=0", "q=0.0") for parameter in parameters
            )
    return False


def _codes(result: ExecutionResult) -> set[str]:
    return {str((error.extensions or {}).get("code")) for error in result.errors or ()}


def _coded_failure(code: ErrorCode, message: str, request_id: str) -> ExecutionResult:
    extensions = {"code": code.value, "requestId": request_id}
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])


class GraphQLView(GraphQL[RequestContext, None]):
    graphql_transport_ws_handler_class = SignedInTransportWSHandler

    def __init__(
        self, schema: object, *, production: bool, allowed_origins: Sequence[str] = ()
    ) -> None:
        super().__init__(
            schema,  # type: ignore[arg-type]
            graphql_ide=None if production else "graphiql",
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            multipart_uploads_enabled=True,
            # Checked before the upgrade: a page on any other origin is refused with 403.
            allowed_origins=allowed_origins,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL with every script and stylesheet from this server (no CDN)."""
        return graphiql_page_response()

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """Only for a browser asking for a page: a GET with `Accept: */*` and a persisted
        query's hash (Apollo's hashed GET) is an operation, not a visit."""
        return (
            request.method == "GET"
            and "query" not in request.query_params
            and "extensions" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        # Everything this request (or WebSocket) runs from here holds few connections.
        share_connections()
        runtime = _runtime(request)
        context = RequestContext(
            services=runtime.services,
            # The request id middleware's: the response header and the log lines carry it.
            request_id=request_id_of(request.scope),
            request=request,
            response=response,
            public_origin=_public_origin(request, runtime.settings.public_base_url),
        )
        if isinstance(request, Request):
            context.credentials = verified_credentials(
                request.scope
            ) or await runtime.authenticator.authenticate(request.headers.get("authorization"))
            bind_signed_in(context.credentials)
        if isinstance(response, Response) and _accepts_graphql_response_json(
            request.headers.get("accept", "")
        ):
            response.media_type = GRAPHQL_RESPONSE_JSON
        return context

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: RequestContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        persisted_queries = _runtime(request).persisted_queries
        try:
            resolved = await persisted_queries.resolve(request_data.query, request_data.extensions)
        except PersistedQueryError as error:
            result = _coded_failure(error.code, error.message, context.request_id)
            if error.code is ErrorCode.BAD_USER_INPUT:
                self._refuse_request(sub_response)
            return result
        result = await super().execute_single(
            request,
            request_adapter,
            sub_response,
            context,
            root_value,
            dataclasses.replace(request_data, query=resolved.query),
        )
        codes = _codes(result)
        if resolved.register_as and resolved.query and not codes & _NOT_REGISTERED_AFTER:
            await persisted_queries.register(resolved.register_as, resolved.query)
        if result.data is None and codes and codes <= _REQUEST_ERROR_CODES:
            self._refuse_request(sub_response)
        self._add_retry_after(sub_response, result)
        return result

    @staticmethod
    def _refuse_request(sub_response: Response) -> None:
        """400 where the client reads the GraphQL-over-HTTP media type (200 stays for
        `application/json`, as that spec's compatibility rules ask)."""
        if sub_response.media_type == GRAPHQL_RESPONSE_JSON:
            sub_response.status_code = 400

    @staticmethod
    def _add_retry_after(sub_response: Response, result: ExecutionResult) -> None:
        waits = [
            wait
            for error in result.errors or ()
            if isinstance(wait := (error.extensions or {}).get("retryAfter"), int)
        ]
        if waits:
            sub_response.headers["Retry-After"] = str(max(waits))

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type:
            response.headers["content-type"] = sub_response.media_type
        return response

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
                {"message": UNAUTHENTICATED_MESSAGE, "code": ErrorCode.UNAUTHENTICATED.value}
            )
        context.credentials = credentials
        bind_signed_in(credentials)
