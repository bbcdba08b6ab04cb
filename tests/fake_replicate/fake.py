"""`FakeReplicate`: a Replicate-compatible HTTP server on loopback, for tests.

async with FakeReplicate(token="test-token") as fake:
    ...  # point the product at fake.base_url, drive trainings with fake.play(...)
"""

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from tests.fake_replicate.lifecycle import Lifecycle
from tests.fake_replicate.records import (
    TRAINER_MODEL,
    TRAINER_VERSION,
    Delivery,
    FailureRule,
    Job,
    RecordedRequest,
    new_id,
    path_matches,
)
from tests.fake_replicate.routes import build_app
from tests.fake_replicate.serving import LoopbackServer
from tests.fake_replicate.webhooks import DropSwitch, WebhookDispatcher, WebhookEvent, new_secret

T = TypeVar("T")

DEFAULT_OWNER = "sandrasocial"
PREDICTION_TICKS = 2


class FakeReplicate(Lifecycle):
    trainer_model = TRAINER_MODEL
    trainer_version = TRAINER_VERSION

    def __init__(
        self,
        token: str = "test-token",  # noqa: S107 (a test token)
        *,
        owners: set[str] | None = None,
        port: int = 0,
        page_size: int = 100,
        webhook_secret: str | None = None,
    ) -> None:
        super().__init__(owners=set(owners or {DEFAULT_OWNER}), page_size=page_size)
        self.token = token
        self.webhook_secret = webhook_secret or new_secret()
        self.drop_webhooks: DropSwitch = False
        self.duplicate_webhooks = False
        self.reorder_webhooks = False
        self.retry_backoff: Sequence[float] = (0.05, 0.1, 0.2, 0.4)
        self.webhook_timeout = 5.0
        self.webhook_timestamp_offset = 0
        self.corrupt_signatures = False
        self.requests: list[RecordedRequest] = []
        self._failures: list[FailureRule] = []
        self._webhooks = WebhookDispatcher(self, self._changed)
        self.deliveries: list[Delivery] = self._webhooks.deliveries
        self.dropped_webhooks: list[WebhookEvent] = self._webhooks.dropped
        self._server = LoopbackServer(build_app(self), port)
        self._auto_play: asyncio.Task[None] | None = None
        self._change = asyncio.Event()
        self._outputs_open = asyncio.Event()
        self._outputs_open.set()
        self._deletes_open = asyncio.Event()
        self._deletes_open.set()

    # Serving

    async def __aenter__(self) -> "FakeReplicate":
        await self._server.start()
        self.origin = self._server.origin
        await self._webhooks.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop_auto_play()
        self.release_outputs()
        self.release_deletes()
        await self._webhooks.close()
        await self._server.stop()

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def port(self) -> int:
        return self._server.port

    # Looking at what happened

    @property
    def trainings(self) -> list[Job]:
        """In creation order: `fake.trainings[-1]` is the newest."""
        return [job for job in self.jobs.values() if job.kind == "training"]

    @property
    def predictions(self) -> list[Job]:
        return [job for job in self.jobs.values() if job.kind == "prediction"]

    def snapshot(self, job_id: str) -> dict[str, Any]:
        """The training or prediction as `GET` returns it now."""
        return self.jobs[job_id].to_json(self.origin)

    def calls(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests; `method` "*" matches any; the prefix may omit `/v1`."""
        return [
            request
            for request in self.requests
            if method in ("*", request.method.upper(), request.method.lower())
            and path_matches(request.path, path_prefix)
        ]

    def deletes(self) -> list[str]:
        """The paths of the DELETE requests that deleted something or found nothing to
        delete (answered 2xx or 404), in order; refused and failed ones are left out."""
        return [
            request.path
            for request in self.requests
            if request.method.upper() == "DELETE"
            and request.status is not None
            and (200 <= request.status < 300 or request.status == 404)
        ]

    def file_bytes(self, file_id_or_url: str) -> bytes:
        return self.files[file_id_or_url.rstrip("/").rsplit("/", 1)[-1]].content

    async def wait_for(self, predicate: Callable[[], T | None], seconds: float = 10.0) -> T:
        """Waits (without polling) until `predicate()` is truthy after a request or an event;
        its value. TimeoutError after `seconds`."""
        async with asyncio.timeout(seconds):
            while not (value := predicate()):
                await self._change.wait()
        return value

    # Failure switches

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        *,
        process: bool = False,
        delay: float = 0.0,
        detail: str | None = None,
    ) -> None:
        """The next `times` matching requests answer `status` (with `Retry-After`).

        `process=True` handles the request first (it "arrived"), then answers the error;
        `delay` holds the answer that long (to make a client time out); `detail` is the
        problem's `detail` (else a generic one).
        """
        rule = FailureRule(
            method.upper(), path_prefix, status, times, retry_after, process, delay, detail
        )
        self._failures.append(rule)

    def clear_failures(self) -> None:
        """Forgets every failure `fail_next` set up and not yet used."""
        self._failures.clear()

    async def delete_model(self, full_name: str) -> None:
        """Deletes the model at once, with its versions and their predictions (as the API's
        deletes, one by one, would); its name stays taken (creating it again answers 409)."""
        for version in list(self.models[full_name].versions):
            self.remove_version(version)
        del self.models[full_name]
        self._changed()

    # Output files

    def hold_outputs(self) -> None:
        """Output file requests arrive (and are recorded) but get no answer until
        `release_outputs`."""
        self._outputs_open.clear()

    def release_outputs(self) -> None:
        self._outputs_open.set()

    async def _output_answered(self) -> None:
        self._changed()  # the request arrived: a test may wait for that
        await self._outputs_open.wait()

    # Deletes

    def hold_deletes(self) -> None:
        """DELETE requests arrive (and are recorded) but are neither carried out nor
        answered until `release_deletes` (a client may die meanwhile)."""
        self._deletes_open.clear()

    def release_deletes(self) -> None:
        self._deletes_open.set()

    async def _delete_answered(self) -> None:
        self._changed()  # the request arrived: a test may wait for that
        await self._deletes_open.wait()

    # Webhooks

    def hold_webhooks(self) -> None:
        """Keeps every following webhook until `release_webhooks`."""
        self._webhooks.hold()

    async def release_webhooks(self, order: Literal["fifo", "reversed"] = "fifo") -> None:
        """Delivers the held webhooks in that order and waits for them."""
        self._webhooks.release(order)
        await self.settle()

    async def settle(self) -> None:
        """Waits until every webhook delivery in flight (retries included) has finished."""
        await self._webhooks.settle()

    # Auto-play

    def auto_play(self, step_seconds: float = 0.05, steps: int = 10) -> None:
        """Every tick, each live training moves one step (succeeding after `steps` ticks)
        and each prediction starts then succeeds."""
        self.stop_auto_play()
        self._auto_play = asyncio.create_task(self._play_forever(step_seconds, steps))

    def stop_auto_play(self) -> None:
        if self._auto_play is not None:
            self._auto_play.cancel()
            self._auto_play = None

    async def _play_forever(self, step_seconds: float, steps: int) -> None:
        while True:
            await asyncio.sleep(step_seconds)
            for job in list(self.jobs.values()):
                if not job.terminal:
                    with contextlib.suppress(ValueError):  # a training failing at start
                        await self._tick(job, steps)

    async def _tick(self, job: Job, steps: int) -> None:
        job.ticks += 1
        if job.status == "starting":
            await (self.start_processing if job.kind == "training" else self.start_prediction)(
                job.id
            )
        elif job.kind == "prediction":
            if job.ticks >= PREDICTION_TICKS:
                await self.succeed_prediction(job.id)
        elif job.ticks > steps:
            await self.succeed(job.id)
        else:
            await self.advance(job.id, self._total_steps(job) * (job.ticks - 1) // steps)

    # Hooks used by the store and the routes

    def _notify(self, job: Job, event: str) -> None:
        self._changed()
        if job.webhook is None or event not in job.events:
            return
        payload = job.to_json(self.origin)
        body = json.dumps(payload).encode()
        webhook_id = f"msg_{new_id()}"
        self._webhooks.emit(WebhookEvent(event, job.id, job.webhook, payload, body, webhook_id))

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    def _record(self, method: str, path: str, query: dict[str, str]) -> RecordedRequest:
        record = RecordedRequest(method, path, query, None, {})
        self.requests.append(record)
        return record

    def _take_failure(self, method: str, path: str) -> FailureRule | None:
        for rule in self._failures:
            if rule.method in ("*", method.upper()) and path_matches(path, rule.path_prefix):
                rule.times -= 1
                if rule.times <= 0:
                    self._failures.remove(rule)
                return rule
        return None
