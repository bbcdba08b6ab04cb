"""The embedded PostgreSQL is an optional extra: without it, a clear refusal."""

import sys
from pathlib import Path

import pytest

from persistence.embedded import EmbeddedPostgres, EmbeddedPostgresMissing


def test_without_pgserver_the_embedded_database_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pgserver.postgres_server", None)

    with pytest.raises(EmbeddedPostgresMissing, match=r"DATABASE_URL.*sselfie\[embedded\]"):
        EmbeddedPostgres(tmp_path).start()
    assert not (tmp_path / "postgres").exists()
