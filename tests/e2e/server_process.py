"""The real `sselfie` process, started for a test on a free loopback port.

With E2E_STORAGE=s3 in the environment (`make test-e2e-s3`), every server given a
DATABASE_URL keeps its images in moto's S3 (one bucket for the run, a prefix per database,
so that replicas of one studio share them); unset or `local`, in files as by default.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# The benchmarks start the same process: one way to do it, kept with them.
from bench.servers import STARTUP_TIMEOUT_SECONDS, free_port, started
from bench.servers import sselfie_env as local_sselfie_env
from resolvers.global_ids import decode_global_id
from server.cli import WORKER_READY
from settings.config import bucket_location
from tests.fake_replicate import FakeReplicate
from tests.integration.api import TEST_SECRET
from tests.s3 import list_keys, shared_bucket, shared_moto

__all__ = [
    "ServerProcess",
    "free_port",
    "run_sselfie",
    "sselfie_env",
    "sselfie_server",
    "sselfie_worker",
    "stored_originals",
    "studio_env",
]

E2E_STORAGE = "E2E_STORAGE"


def sselfie_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This shell's environment but for its sselfie settings, with the caller's own (and
    the E2E_STORAGE bucket, given a DATABASE_URL)."""
    env = local_sselfie_env(data_dir)
    env["LOG_LEVEL"] = "INFO"  # every line a request logs: checked for secrets after each test
    if "DATABASE_URL" in extra:
        env.update(storage_env(extra["DATABASE_URL"]))
    env.update(extra)
    return env


def storage_env(database_url: str) -> dict[str, str]:
    """Where the servers of this database keep images: per E2E_STORAGE."""
    storage = os.environ.get(E2E_STORAGE, "local")
    if storage == "local":
        return {}
    if storage != "s3":
        raise ValueError(f"{E2E_STORAGE} is `local` (the default) or `s3`, not {storage!r}")
    database = urlsplit(database_url).path.strip("/") or "default"
    return shared_moto().env(shared_bucket(), prefix=database)


def studio_env(
    database_url: str, data_dir: Path, fake: FakeReplicate, public_base_url: str, **extra: str
) -> dict[str, str]:
    """A studio's settings: this database, HS256 sign-in, the fake Replicate, reconciling
    every 0.2 s (unless `extra` says otherwise)."""
    return sselfie_env(
        data_dir,
        DATABASE_URL=database_url,
        AUTH_JWT_SECRET=TEST_SECRET,
        REPLICATE_API_TOKEN=fake.token,
        REPLICATE_API_BASE_URL=fake.base_url,
        PUBLIC_BASE_URL=public_base_url,
        **{"RECONCILE_INTERVAL_SECONDS": "0.2", **extra},
    )


def stored_originals(env: dict[str, str], generation_id: str) -> list[str]:
    """The original images of a generation (its global id) that a server started with
    `env` keeps: files under its data directory, or objects in its bucket."""
    local_id = decode_global_id(generation_id)
    assert local_id is not None, generation_id
    if "STORAGE_URL" not in env:
        images = Path(env["SSELFIE_DATA_DIR"]) / "images"
        return sorted(
            str(path.relative_to(images)) for path in images.glob(f"*/{local_id[1]}/*.png")
        )
    bucket = bucket_location(env["STORAGE_URL"])
    prefix = f"{bucket.prefix}/" if bucket.prefix else ""
    keys = list_keys(env["AWS_ENDPOINT_URL"], bucket.bucket, prefix)
    mine = [key.removeprefix(prefix) for key in keys]
    return [key for key in mine if key.split("/")[1] == local_id[1] and key.endswith(".png")]


def run_sselfie(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own command)
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT_SECONDS,
        check=False,
    )


@dataclass
class ServerProcess:
    base_url: str
    ws_url: str
    env: dict[str, str]
    output: list[str]
    process: "subprocess.Popen[str]"

    def kill(self) -> None:
        """Dies at once, as in a crash: no shutdown of any kind."""
        self.process.kill()
        self.process.wait()


@contextmanager
def sselfie_server(
    env: dict[str, str], *, port: int | None = None, worker: bool = True
) -> Iterator[ServerProcess]:
    port = port or free_port()
    command = ["server.cli", "serve", "--port", str(port), *([] if worker else ["--no-worker"])]
    with started(command, env, port, grace_seconds=15) as server:
        yield ServerProcess(server.base_url, server.ws_url, env, server.output, server.process)


@contextmanager
def sselfie_worker(env: dict[str, str]) -> Iterator[ServerProcess]:
    """A real `sselfie worker` (no HTTP: its URLs lead nowhere)."""
    with started(
        ["server.cli", "worker"], env, 0, ready_line=WORKER_READY, grace_seconds=15
    ) as worker:
        yield ServerProcess(worker.base_url, worker.ws_url, env, worker.output, worker.process)
