"""The embedded PostgreSQL (the optional `pgserver` package) used when DATABASE_URL is unset.

Development and tests only: it comes with `pip install sselfie[embedded]`, which `make run`
and `make test` install, and production refuses to start without DATABASE_URL.
"""

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATABASE_NAME = "sselfie"


class EmbeddedPostgresMissing(RuntimeError):
    """`pgserver` is not installed: the message says what to do instead."""


class EmbeddedPostgres:
    """Starts (or joins) the server kept under `<data_dir>/postgres`.

    The server is shared by every process of this data directory and stopped when
    the last of them exits.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()

    def start(self, database: str = DATABASE_NAME) -> str:
        try:
            from pgserver.postgres_server import get_server
        except ImportError as error:
            raise EmbeddedPostgresMissing(
                "DATABASE_URL is unset and the embedded PostgreSQL is not installed: set "
                "DATABASE_URL, or install it with `pip install 'sselfie[embedded]'`."
            ) from error
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._server: Any = get_server(self.pgdata)
        exists = self._server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{database}';"  # noqa: S608
        )
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{database}";')
        uri: str = self._server.get_uri(database)
        log.info("embedded PostgreSQL ready in %s", self.pgdata)
        return uri
