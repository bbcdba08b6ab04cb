"""The embedded PostgreSQL (the `pgserver` package) used when DATABASE_URL is unset."""

import logging
from pathlib import Path
from typing import Any

from pgserver.postgres_server import get_server

log = logging.getLogger(__name__)

DATABASE_NAME = "sselfie"


class EmbeddedPostgres:
    """Starts (or joins) the server kept under `<data_dir>/postgres`.

    The server is shared by every process of this data directory and stopped when
    the last of them exits.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()

    def start(self, database: str = DATABASE_NAME) -> str:
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
