"""The real `sselfie` process, started for a test on a free loopback port."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# The benchmarks start the same process: one way to do it, kept with them.
from bench.servers import STARTUP_TIMEOUT_SECONDS, free_port, sselfie_env, started
from server.cli import WORKER_READY
from tests.fake_replicate import FakeReplicate
from tests.integration.api import TEST_SECRET

__all__ = [
    "ServerProcess",
    "free_port",
    "run_sselfie",
    "sselfie_env",
    "sselfie_server",
    "sselfie_worker",
    "studio_env",
]


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
