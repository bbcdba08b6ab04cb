"""The ASGI application."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from schema import build_schema
from server.body_limit import BodyLimitMiddleware
from server.cors import ApiCorsMiddleware
from server.csrf import CsrfPreventionMiddleware
from server.graphiql import graphiql_routes
from server.graphql_view import GraphQLView
from server.health import healthz, readyz
from server.images import serve_image
from server.runtime import open_runtime
from server.upload_auth import UploadSignInMiddleware
from server.webhooks import replicate_webhook
from settings import Settings


def create_app(
    settings: Settings,
    database_url: str,
    *,
    migrate_on_start: bool = True,
    run_worker: bool = True,
) -> Starlette:
    view = GraphQLView(
        build_schema(production=settings.is_production),
        production=settings.is_production,
        allowed_origins=settings.cors_allowed_origins,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_runtime(
            settings, database_url, migrate_on_start=migrate_on_start, run_worker=run_worker
        ) as runtime:
            app.state.runtime = runtime
            yield

    return Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/webhooks/replicate", replicate_webhook, methods=["POST"]),
            Route("/images/{image_id}", serve_image, methods=["GET"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            # GraphiQL's scripts and stylesheets: only where GraphiQL is served.
            *([] if settings.is_production else graphiql_routes()),
        ],
        middleware=[
            # Outermost, so that refusals by the others still carry CORS headers.
            Middleware(ApiCorsMiddleware, allowed_origins=settings.cors_allowed_origins),
            Middleware(BodyLimitMiddleware),
            Middleware(CsrfPreventionMiddleware),
            # Before anything reads an upload's body: only a signed-in user's is read.
            Middleware(UploadSignInMiddleware),
        ],
        lifespan=lifespan,
    )
