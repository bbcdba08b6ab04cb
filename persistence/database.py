"""The engine and the URL forms PostgreSQL is reached by."""

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    create_async_engine,
)


def sqlalchemy_url(database_url: str) -> str:
    """`postgresql://…` (or `postgres://…`) in the asyncpg dialect's form."""
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    if url.get_backend_name() != "postgresql":
        raise ValueError("DATABASE_URL must be a PostgreSQL URL (postgresql://…)")
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def asyncpg_dsn(database_url: str) -> str:
    """The URL as asyncpg itself takes it (for the LISTEN connection)."""
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(database_url: str, *, pool_size: int = 20) -> AsyncEngine:
    # Connections are kept (no overflow that would be closed on return) and not
    # pinged before each use: a broken one fails its transaction and is replaced.
    return create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=30,
        pool_recycle=3600,
        connect_args={"server_settings": {"application_name": "sselfie"}},
    )
