"""The real `sselfie` process, started for a test on a free loopback port."""

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT_SECONDS = 60
READY_LINE = "Uvicorn running on"  # printed once the socket listens


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def sselfie_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DATABASE_URL",
            "AUTH_JWT_SECRET",
            "OIDC_ISSUER",
            "OIDC_AUDIENCE",
            "SSELFIE_ENV",
            "PUBLIC_BASE_URL",
            "CORS_ALLOWED_ORIGINS",
        }
    }
    env["SSELFIE_DATA_DIR"] = str(data_dir)
    # The fake Replicate serves its outputs on loopback, which only an exact entry allows.
    env["REPLICATE_OUTPUT_HOSTS"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


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
def sselfie_server(env: dict[str, str], *, port: int | None = None) -> Iterator[ServerProcess]:
    port = port or free_port()
    process = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if READY_LINE in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not ready.wait(STARTUP_TIMEOUT_SECONDS) or process.poll() is not None:
            raise RuntimeError("sselfie serve did not start:\n" + "".join(output))
        yield ServerProcess(
            base_url=f"http://127.0.0.1:{port}",
            ws_url=f"ws://127.0.0.1:{port}/graphql",
            env=env,
            output=output,
            process=process,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
