"""The processes a benchmark starts on loopback, and the tokens it signs in with.

The benchmarks are no tests: they start the real `sselfie` command as a user would, and
depend on nothing under `tests/`.
"""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey

STARTUP_TIMEOUT_SECONDS = 60
READY_LINE = "Uvicorn running on"  # printed once the socket listens
# Printed by each serving process once ready; `--workers N` prints READY_LINE before they are.
STARTED_LINE = "Application startup complete."
# Benchmarks start the server with it as AUTH_JWT_SECRET and sign their users' tokens with it.
TOKEN_SECRET = "a-benchmark-signing-secret-that-is-long-enough"  # noqa: S105
_SETTINGS_OF_THIS_SHELL = {
    "DATABASE_URL",
    "AUTH_JWT_SECRET",
    "OIDC_ISSUER",
    "OIDC_AUDIENCE",
    "SSELFIE_ENV",
    "PUBLIC_BASE_URL",
    "CORS_ALLOWED_ORIGINS",
    "STORAGE_URL",
    "STORAGE_PUBLIC_ENDPOINT_URL",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "METRICS_TOKEN",
    "METRICS_PORT",
    "METRICS_HOST",
    "PROMETHEUS_MULTIPROC_DIR",
}


def token_for(subject: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": subject, "iat": now, "exp": now + 3600, **claims}
    return jwt.encode({"alg": "HS256"}, payload, OctKey.import_key(TOKEN_SECRET))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def sselfie_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This shell's environment but for its sselfie settings, with the caller's own."""
    env = {key: value for key, value in os.environ.items() if key not in _SETTINGS_OF_THIS_SHELL}
    env["SSELFIE_DATA_DIR"] = str(data_dir)
    # A fake Replicate serves its outputs on loopback, which only an exact entry allows.
    env["REPLICATE_OUTPUT_HOSTS"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


@dataclass(frozen=True)
class Started:
    """A process `started` here: what it printed so far, and the environment it ran with."""

    output: list[str]
    env: dict[str, str]


# Every process `started` in this interpreter, in order (tests check what they printed).
STARTED: list[Started] = []


@dataclass(frozen=True)
class Server:
    base_url: str
    ws_url: str
    process: "subprocess.Popen[str]"
    output: list[str]  # what it printed so far, stdout and stderr

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def started(
    command: Sequence[str],
    env: dict[str, str],
    port: int,
    *,
    ready_line: str = READY_LINE,
    ready_count: int = 1,
    grace_seconds: float = 30,
) -> Iterator[Server]:
    """`python -m <command>` listening on `port` once it printed `ready_line` `ready_count`
    times; stopped after."""
    process = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    STARTED.append(Started(output, env))
    ready = threading.Event()
    threading.Thread(
        target=_pump, args=(process, output, ready, ready_line, ready_count), daemon=True
    ).start()
    try:
        if not ready.wait(STARTUP_TIMEOUT_SECONDS) or process.poll() is not None:
            raise RuntimeError(f"{command[0]} did not start:\n" + "".join(output))
        origin = f"127.0.0.1:{port}"
        yield Server(f"http://{origin}", f"ws://{origin}/graphql", process, output)
    finally:
        stop(process, grace_seconds=grace_seconds)


def stop(process: "subprocess.Popen[Any]", *, grace_seconds: float = 30) -> None:
    """Asks the process to stop, and kills it if it has not within the grace period."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _pump(
    process: "subprocess.Popen[str]",
    output: list[str],
    ready: threading.Event,
    line: str,
    count: int,
) -> None:
    if process.stdout is None:
        return
    seen = 0
    for text in process.stdout:
        output.append(text)
        seen += line in text
        if seen >= count:
            ready.set()
    ready.set()


@contextmanager
def sselfie_server(
    env: dict[str, str], *, port: int | None = None, workers: int = 1, task_worker: bool = True
) -> Iterator[Server]:
    """A real `sselfie serve --workers N` on `port` (a free one if not given), every
    process ready."""
    port = port or free_port()
    command = ["server.cli", "serve", "--port", str(port), "--workers", str(workers)]
    command += [] if task_worker else ["--no-worker"]
    line, count = ready_when_serving(workers)
    with started(command, env, port, ready_line=line, ready_count=count) as server:
        yield server


def ready_when_serving(workers: int) -> tuple[str, int]:
    """What `sselfie serve --workers N` prints, and how often, once every process serves."""
    return (READY_LINE, 1) if workers == 1 else (STARTED_LINE, workers)
