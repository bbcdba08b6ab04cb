"""The ASGI application, and the factories `sselfie serve --workers N`'s processes build it with."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

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
from server.logging_setup import configure_logging
from server.metrics import operation_metrics
from server.metrics_endpoint import metrics_endpoint
from server.metrics_http import HttpMetricsMiddleware
from server.request_ids import RequestIdMiddleware
from server.runtime import open_runtime
from server.upload_auth import UploadSignInMiddleware
from server.webhooks import replicate_webhook
from settings import Settings, load_settings

if TYPE_CHECKING:  # the entry points import it (and the SDK) when they set tracing up
    from server.tracing import Tracing


def create_app(
    settings: Settings,
    database_url: str,
    *,
    migrate_on_start: bool = True,
    run_worker: bool = True,
    tracing: "Tracing | None" = None,
) -> Starlette:
    """`tracing` (none: off) traces operations, upstream calls and statements; it is closed
    with the app's runtime."""
    view = GraphQLView(
        build_schema(
            production=settings.is_production,
            outer_extensions=[
                *([tracing.schema_extension()] if tracing is not None else []),
                operation_metrics(),
            ],
        ),
        production=settings.is_production,
        allowed_origins=settings.cors_allowed_origins,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_runtime(
            settings,
            database_url,
            migrate_on_start=migrate_on_start,
            run_worker=run_worker,
            tracing=tracing,
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
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            # GraphiQL's scripts and stylesheets: only where GraphiQL is served.
            *([] if settings.is_production else graphiql_routes()),
        ],
        middleware=[
            # Outermost: every answer carries the request id, and is in the access log.
            Middleware(RequestIdMiddleware),
            Middleware(HttpMetricsMiddleware),
            # Before the refusing ones, so that refusals still carry CORS headers.
            Middleware(ApiCorsMiddleware, allowed_origins=settings.cors_allowed_origins),
            Middleware(BodyLimitMiddleware),
            Middleware(CsrfPreventionMiddleware),
            # Before anything reads an upload's body: only a signed-in user's is read.
            Middleware(UploadSignInMiddleware),
        ],
        lifespan=lifespan,
    )


def app_serving_tasks() -> Starlette:
    """The app of one of `sselfie serve --workers N`'s processes, running background tasks too."""
    return _app_of_a_worker_process(run_worker=True)


def app_serving_no_tasks() -> Starlette:
    """The app of one of `sselfie serve --workers N --no-worker`'s processes."""
    return _app_of_a_worker_process(run_worker=False)


def _app_of_a_worker_process(*, run_worker: bool) -> Starlette:
    # The parent checked the settings, set DATABASE_URL (to the embedded server it started,
    # if it did) and migrated the database before starting this process.
    settings = load_settings()
    configure_logging(settings)
    if settings.database_url is None:
        raise RuntimeError("started without DATABASE_URL: `sselfie serve --workers N` sets it")
    # The parent checked the OTEL_* variables too.
    from server.tracing import install_tracing

    return create_app(
        settings,
        settings.database_url,
        migrate_on_start=False,
        run_worker=run_worker,
        tracing=install_tracing(),
    )
