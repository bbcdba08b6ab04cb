"""`sselfie`: serve, run background tasks, migrate, print a development token, export the schema."""

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from identity import AuthConfigurationError, issue_token
from identity.setup import check_sign_in_settings, signing_secret
from persistence import migrate
from persistence.database import create_engine
from persistence.embedded import EmbeddedPostgres, EmbeddedPostgresMissing
from server.logging_setup import configure_logging
from settings import Settings, load_settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("sselfie")
# Printed once `sselfie worker` runs.
WORKER_READY = "sselfie worker running"


class _Refused(Exception):
    """The command cannot run with these settings; the message names what to set."""


def _database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    if settings.is_production:
        raise _Refused("SSELFIE_ENV=production needs DATABASE_URL.")
    log.info("DATABASE_URL is unset: using the embedded PostgreSQL under %s", settings.data_dir)
    return EmbeddedPostgres(settings.data_dir).start()


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from server.app import create_app

    # Checked before the database or anything else starts.
    if problems := settings.deployment_problems():
        for problem in problems:
            log.error("%s", problem)
        return 2
    check_sign_in_settings(settings)
    _check_storage(settings)
    _check_tracing()
    database_url = _database_url(settings)
    workers: int = args.workers if args.workers is not None else settings.web_concurrency
    if workers == 1:
        from server.tracing import install_tracing

        app = create_app(
            settings, database_url, run_worker=not args.no_worker, tracing=install_tracing()
        )
        with ExitStack() as stack:
            _metrics(stack, settings, database_url, processes=1)
            _run_uvicorn(app, settings, args)
        return 0
    # Once, here, rather than by every process under the migration lock at startup.
    asyncio.run(_with_engine(database_url, migrate.upgrade))
    # Each process builds its app from the environment; the database's URL (the embedded
    # server's, started once here) reaches them in it.
    os.environ["DATABASE_URL"] = database_url
    log.info("starting %d worker processes on one port", workers)
    factory = (
        "server.app:app_serving_no_tasks" if args.no_worker else "server.app:app_serving_tasks"
    )
    with ExitStack() as stack:
        _metrics(stack, settings, database_url, processes=workers)
        _run_uvicorn(factory, settings, args, workers=workers)
    return 0


def _metrics(stack: ExitStack, settings: Settings, database_url: str, *, processes: int) -> None:
    """Until the stack closes: a directory where several processes started meanwhile keep
    their metrics (PROMETHEUS_MULTIPROC_DIR, in the environment they inherit), and
    METRICS_PORT, if set, serving them (or this process's own)."""
    from server.metrics_endpoint import (
        MetricsPortUnusable,
        metrics_shared_by_processes,
        serving_metrics_port,
        this_process_directory,
    )

    directory: str | None = this_process_directory()
    if processes > 1:
        directory = stack.enter_context(metrics_shared_by_processes())
    try:
        stack.enter_context(serving_metrics_port(settings, database_url, directory=directory))
    except MetricsPortUnusable as error:
        raise _Refused(str(error)) from None


def _run_uvicorn(
    app: "Starlette | str", settings: Settings, args: argparse.Namespace, workers: int = 1
) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        factory=isinstance(app, str),
        workers=workers,
        log_config=None,
        proxy_headers=True,
        access_log=False,
        ws="websockets-sansio",
    )


def _check_storage(settings: Settings) -> None:
    """A bucket that takes no write refuses the start in one line, before the database."""
    from server.runtime import StorageUnusable, check_storage, image_storage

    try:
        asyncio.run(check_storage(settings, image_storage(settings)))
    except StorageUnusable as error:
        raise _Refused(str(error)) from None


def _check_tracing() -> None:
    """OTEL_* variables asking for an exporter this server lacks refuse the start."""
    from server.tracing import TracingConfigurationError, requested_exporters

    try:
        requested_exporters()
    except TracingConfigurationError as error:
        raise _Refused(str(error)) from None


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    """Runs background tasks only (no HTTP) until SIGTERM or SIGINT."""
    from server.runtime import open_runtime
    from server.tracing import install_tracing

    if problems := settings.deployment_problems():
        for problem in problems:
            log.error("%s", problem)
        return 2
    _check_storage(settings)
    _check_tracing()
    database_url = _database_url(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with open_runtime(settings, database_url, run_worker=True, tracing=install_tracing()):
            log.info("%s (pid %d)", WORKER_READY, os.getpid())
            await stop.wait()
            log.info("stopping: finishing the running tasks")

    with ExitStack() as stack:
        _metrics(stack, settings, database_url, processes=1)
        asyncio.run(run())
    return 0


def _gc(settings: Settings, args: argparse.Namespace) -> int:
    """Removes, once, the orphans older than the grace (what the hourly task does)."""
    from server.runtime import open_runtime
    from server.tracing import install_tracing

    _check_storage(settings)
    _check_tracing()
    seconds = settings.orphan_grace_seconds if args.grace_seconds is None else args.grace_seconds
    grace = timedelta(seconds=seconds)

    async def run() -> None:
        async with open_runtime(
            settings, _database_url(settings), run_worker=False, tracing=install_tracing()
        ) as runtime:
            collected = await runtime.orphans.collect(
                grace=grace, include_provider=settings.replicate_api_token is not None
            )
        print(
            f"removed {collected.stored_objects} stored objects and "
            f"{collected.provider_files} provider files older than {grace}"
        )

    asyncio.run(run())
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def run(engine: AsyncEngine) -> None:
        if args.downgrade:
            await migrate.downgrade(engine, args.downgrade)
        else:
            await migrate.upgrade(engine, args.revision)
        log.info("database at revision %s", await migrate.current_revision(engine))

    asyncio.run(_with_engine(_database_url(settings), run))
    return 0


async def _with_engine(database_url: str, use: Callable[[AsyncEngine], Awaitable[None]]) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        await use(engine)
    finally:
        await engine.dispose()


def _token(settings: Settings, args: argparse.Namespace) -> int:
    secret = signing_secret(settings, create=True)
    token = issue_token(
        secret,
        args.subject,
        ttl_seconds=args.ttl,
        issuer=settings.auth_jwt_issuer,
        audience=settings.auth_jwt_audience,
    )
    print(token)
    return 0


def _schema(settings: Settings, args: argparse.Namespace) -> int:
    from schema import build_schema

    text = build_schema().as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sselfie", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database and serve the API")
    serve.add_argument("--host", help="default: $HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: $PORT or 8000")
    serve.add_argument(
        "--workers",
        type=_positive,
        help="processes serving HTTP on the one port, each running background tasks too "
        "unless --no-worker (default: $WEB_CONCURRENCY or 1)",
    )
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="run no background tasks here (`sselfie worker` processes run them)",
    )
    serve.set_defaults(run=_serve)

    worker = commands.add_parser(
        "worker", help="migrate the database and run background tasks (no HTTP)"
    )
    worker.set_defaults(run=_worker)

    migrate_cmd = commands.add_parser("migrate", help="apply (or undo) database migrations")
    migrate_cmd.add_argument("--revision", default="head", help="upgrade to this revision")
    migrate_cmd.add_argument("--downgrade", metavar="REVISION", help="downgrade to this revision")
    migrate_cmd.set_defaults(run=_migrate)

    gc = commands.add_parser(
        "gc", help="remove stored images and provider files no row refers to any more"
    )
    gc.add_argument(
        "--grace-seconds",
        type=_not_negative,
        default=None,
        help="only what is older than this (default: ORPHAN_GRACE_SECONDS)",
    )
    gc.set_defaults(run=_gc)

    token = commands.add_parser("token", help="print a signed token for SUBJECT (HS256 mode)")
    token.add_argument("subject")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")
    token.set_defaults(run=_token)

    schema = commands.add_parser("schema", help="print or write the GraphQL schema (SDL)")
    schema.add_argument("--output", default="-", help="file to write, or - for stdout")
    schema.set_defaults(run=_schema)
    return parser


def _not_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as error:
        configure_logging()  # the defaults: the settings could not be read
        for problem in error.errors():
            named = ".".join(str(part) for part in problem["loc"])
            log.error("%s", f"{named}: {problem['msg']}" if named else problem["msg"])
        return 2
    configure_logging(settings)
    try:
        result: int = args.run(settings, args)
    except (AuthConfigurationError, EmbeddedPostgresMissing, _Refused) as error:
        log.error("%s", error)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
