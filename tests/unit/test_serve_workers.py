"""`sselfie serve --workers N`: what each process builds its app with."""

import importlib
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import server.app
from server import cli


@pytest.mark.parametrize(("flags", "run_worker"), [([], True), (["--no-worker"], False)])
def test_each_process_builds_its_app_unmigrated_and_with_the_worker_flag(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Path,
    flags: list[str],
    run_worker: bool,
) -> None:
    served: dict[str, Any] = {}
    built: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    monkeypatch.setattr(
        server.app, "create_app", lambda settings, url, **options: built.update(url=url, **options)
    )
    monkeypatch.setenv("SSELFIE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", database_url)  # restored after: serve sets it

    code = cli.main(["serve", "--workers", "2", "--port", "0", *flags])
    module, factory = served["app"].split(":")
    getattr(importlib.import_module(module), factory)()

    assert code == 0
    assert served["workers"] == 2
    assert served["factory"] is True
    assert built == {
        "url": database_url,
        "migrate_on_start": False,
        "run_worker": run_worker,
        "tracing": None,  # no OTEL_* variable asks for traces
    }
