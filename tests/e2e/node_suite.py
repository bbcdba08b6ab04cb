"""Suites written for Node (`node --test`) run against the real server and the fake Replicate.

    async with node_stack(postgres_server_url, tmp_path) as stack:
        run = await run_node_tests(["apollo/me.test.js"], stack.node_env())
    assert_node_passed(run, stack)

`node_stack` gives the suite a database of its own, a `FakeReplicate` in this process, the
real `sselfie serve` process (HS256 sign-in with `TEST_SECRET`, webhooks to itself) and a
small loopback control server through which the Node side drives the fake:

    POST /tokens               {"subject": "carol"}  -> {"token": "..."}
    POST /trainings/play       {"model": "<owner>/<userId>-selfie-lora"}
                                                     -> {"trainingId": ..., "versionId": ...}
    POST /predictions/succeed  {"model": "<owner>/<userId>-selfie-lora"}
                                                     -> {"predictionIds": [...]}

Both job routes wait (bounded) for the model's live training or prediction to reach the fake,
then finish it at once. `node_env()` hands the Node side (names in `NodeStack.node_env`):
SSELFIE_ORIGIN, SSELFIE_HTTP_URL, SSELFIE_WS_URL, SSELFIE_CONTROL_URL, SSELFIE_SELFIES_DIR
(ten valid selfie JPEGs) and SSELFIE_TOKEN_ALICE / SSELFIE_TOKEN_BOB.
"""

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests import postgres
from tests.e2e.server_process import ServerProcess, free_port, sselfie_env, sselfie_server
from tests.fake_replicate import FakeReplicate, Job, LoopbackServer
from tests.integration.api import TEST_SECRET, token_for
from tests.selfies import make_selfies

CLIENTS_DIR = Path(__file__).resolve().parents[1] / "clients"
NODE_SUITE_TIMEOUT_SECONDS = 180.0
NODE_TEST_TIMEOUT_MS = 60_000
JOB_WAIT_SECONDS = 20.0
SELFIE_COUNT = 10
SERVER_LOG_TAIL = 60


@dataclass
class NodeStack:
    fake: FakeReplicate
    server: ServerProcess
    control_url: str
    selfies_dir: Path

    @property
    def origin(self) -> str:
        return self.server.base_url

    def node_env(self, **extra: str) -> dict[str, str]:
        """The environment of `node --test`: this process's, the stack's addresses, tokens."""
        env = dict(os.environ)
        env.update(
            SSELFIE_ORIGIN=self.origin,
            SSELFIE_HTTP_URL=f"{self.origin}/graphql",
            SSELFIE_WS_URL=self.server.ws_url,
            SSELFIE_CONTROL_URL=self.control_url,
            SSELFIE_SELFIES_DIR=str(self.selfies_dir),
            SSELFIE_TOKEN_ALICE=token_for("alice"),
            SSELFIE_TOKEN_BOB=token_for("bob"),
        )
        env.update(extra)
        return env


@dataclass
class NodeRun:
    command: list[str]
    returncode: int
    output: str


@asynccontextmanager
async def node_stack(
    postgres_server_url: str,
    data_dir: Path,
    *,
    public_base_url: bool = True,
    **server_env: str,
) -> AsyncIterator[NodeStack]:
    """A fresh database, the fake Replicate, its control server and `sselfie serve`.

    `public_base_url=True` sets PUBLIC_BASE_URL to the server's own origin (webhooks come
    back, image URLs are built from it); False leaves it unset. `server_env` adds to or
    overrides the server's environment; "{port}" in a value becomes the server's port.
    """
    check_node_project()
    database_url = await postgres.create_database(postgres_server_url)
    try:
        async with FakeReplicate() as fake, _control_server(fake) as control_url:
            port = free_port()
            origin = f"http://127.0.0.1:{port}"
            extra = {key: value.replace("{port}", str(port)) for key, value in server_env.items()}
            if public_base_url:
                extra.setdefault("PUBLIC_BASE_URL", origin)
            settings = {
                "DATABASE_URL": database_url,
                "AUTH_JWT_SECRET": TEST_SECRET,
                "REPLICATE_API_TOKEN": fake.token,
                "REPLICATE_API_BASE_URL": fake.base_url,
                "REPLICATE_WEBHOOK_SECRET": fake.webhook_secret,
                "RECONCILE_INTERVAL_SECONDS": "0.2",
            }
            env = sselfie_env(data_dir / "server", **{**settings, **extra})
            selfies_dir = _write_selfies(data_dir / "selfies")
            with contextlib.ExitStack() as exits:
                # Started off the event loop: the fake must keep answering meanwhile.
                server = await asyncio.to_thread(
                    exits.enter_context, sselfie_server(env, port=port)
                )
                try:
                    yield NodeStack(fake, server, control_url, selfies_dir)
                finally:
                    await asyncio.to_thread(exits.close)
    finally:
        await postgres.drop_database(postgres_server_url, database_url)


def check_node_project() -> None:
    """Fails with what to do when Node or the client project's packages are missing."""
    if shutil.which("node") is None:
        pytest.fail("Node.js 20+ is needed for the client suites (`node` is not on PATH)")
    if not (CLIENTS_DIR / "node_modules").is_dir():
        pytest.fail(f"run `npm ci` in {CLIENTS_DIR} (make test does) before the client suites")


async def run_node_tests(
    files: Sequence[str | Path],
    env: Mapping[str, str],
    *,
    seconds: float = NODE_SUITE_TIMEOUT_SECONDS,
    test_timeout_ms: int = NODE_TEST_TIMEOUT_MS,
    cwd: Path = CLIENTS_DIR,
) -> NodeRun:
    """`node --test` on `files` (relative to `cwd`); killed with its children after `seconds`.

    Runs as a child of the event loop, so the fake Replicate keeps serving meanwhile.
    """
    command = [
        "node",
        "--test",
        "--test-reporter=spec",
        "--test-force-exit",
        f"--test-timeout={test_timeout_ms}",
        *(str(file) for file in files),
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a timeout ends its children too
    )
    try:
        async with asyncio.timeout(seconds):
            output, _ = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = await process.communicate()
        text = output.decode(errors="replace")
        return NodeRun(command, -1, f"{text}\n[node --test killed after {seconds:g} s]")
    assert process.returncode is not None
    return NodeRun(command, process.returncode, output.decode(errors="replace"))


def assert_node_passed(run: NodeRun, stack: NodeStack | None = None) -> None:
    """Fails the pytest test with Node's output (and the server's last log lines)."""
    if run.returncode == 0:
        return
    message = f"{' '.join(run.command)} exited {run.returncode}:\n{run.output}"
    if stack is not None:
        tail = "".join(stack.server.output[-SERVER_LOG_TAIL:])
        message += f"\n--- last lines of the sselfie server's log ---\n{tail}"
    pytest.fail(message, pytrace=False)


def _write_selfies(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, content in enumerate(make_selfies(SELFIE_COUNT)):
        (folder / f"selfie-{index}.jpg").write_bytes(content)
    return folder


# The control server


Handler = Callable[[FakeReplicate, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _token(fake: FakeReplicate, body: dict[str, Any]) -> dict[str, Any]:
    return {"token": token_for(str(body["subject"]))}


async def _play_training(fake: FakeReplicate, body: dict[str, Any]) -> dict[str, Any]:
    model = str(body["model"])
    job = await _live_job(fake, lambda job: job.kind == "training" and job.destination == model)
    version = await fake.play(job.id)
    await fake.settle()
    return {"trainingId": job.id, "versionId": version}


async def _succeed_predictions(fake: FakeReplicate, body: dict[str, Any]) -> dict[str, Any]:
    model = str(body["model"])
    await _live_job(fake, lambda job: job.kind == "prediction" and job.model == model)
    live = [job for job in fake.predictions if job.model == model and not job.terminal]
    for job in live:
        await fake.succeed_prediction(job.id)
    await fake.settle()
    return {"predictionIds": [job.id for job in live]}


async def _live_job(fake: FakeReplicate, matches: Callable[[Job], bool]) -> Job:
    def find() -> Job | None:
        return next((job for job in fake.jobs.values() if matches(job) and not job.terminal), None)

    return await fake.wait_for(find, JOB_WAIT_SECONDS)


ROUTES: dict[str, Handler] = {
    "/tokens": _token,
    "/trainings/play": _play_training,
    "/predictions/succeed": _succeed_predictions,
}


def _route(fake: FakeReplicate, path: str, handler: Handler) -> Route:
    async def endpoint(request: Request) -> Response:
        body = await request.json()
        try:
            return JSONResponse(await handler(fake, body))
        except TimeoutError:
            return JSONResponse({"error": f"nothing to do for {body} at the fake"}, 404)

    return Route(path, endpoint, methods=["POST"])


@asynccontextmanager
async def _control_server(fake: FakeReplicate) -> AsyncIterator[str]:
    app = Starlette(routes=[_route(fake, path, handler) for path, handler in ROUTES.items()])
    async with LoopbackServer(app) as server:
        yield server.origin
