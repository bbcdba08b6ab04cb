"""Webhook delivery as Replicate does it: Standard Webhooks signatures, terminal retries.

Deliveries run in background tasks, one chain per object so that an object's events
leave in the order they were emitted; `settle()` waits for all of them.
"""

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from tests.fake_replicate.records import Delivery

DropSwitch = bool | Callable[[str, dict[str, Any]], bool]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` keyed by the decoded secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def is_loopback(url: str) -> bool:
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebhookEvent:
    event: str
    object_id: str
    url: str
    payload: dict[str, Any]
    body: bytes
    webhook_id: str

    @property
    def terminal(self) -> bool:
        return self.event == "completed"


class WebhookSwitches(Protocol):
    """The fake's settings the dispatcher reads at each event."""

    webhook_secret: str
    drop_webhooks: DropSwitch
    duplicate_webhooks: bool
    reorder_webhooks: bool
    retry_backoff: Sequence[float]
    webhook_timeout: float
    webhook_timestamp_offset: int
    corrupt_signatures: bool


class WebhookDispatcher:
    def __init__(self, switches: WebhookSwitches, on_change: Callable[[], None]) -> None:
        self.deliveries: list[Delivery] = []
        self.dropped: list[WebhookEvent] = []
        self._switches = switches
        self._on_change = on_change
        self._held: list[WebhookEvent] | None = None
        self._deferred: dict[str, WebhookEvent] = {}
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        timeout = httpx.Timeout(self._switches.webhook_timeout)
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def emit(self, event: WebhookEvent) -> None:
        if self._dropped(event):
            self.dropped.append(event)
        elif self._held is not None:
            self._held.append(event)
        elif self._switches.reorder_webhooks:
            self._emit_reordered(event)
        else:
            self._schedule(event)

    def hold(self) -> None:
        if self._held is None:
            self._held = []

    def release(self, order: Literal["fifo", "reversed"]) -> None:
        held, self._held = self._held or [], None
        for event in reversed(held) if order == "reversed" else held:
            self._schedule(event)

    async def settle(self) -> None:
        """Waits until every scheduled delivery (retries included) has finished."""
        while True:
            for event in list(self._deferred.values()):
                self._schedule(event)
            self._deferred.clear()
            pending = set(self._tasks)
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    def _dropped(self, event: WebhookEvent) -> bool:
        switch = self._switches.drop_webhooks
        return switch(event.event, event.payload) if callable(switch) else switch

    def _emit_reordered(self, event: WebhookEvent) -> None:
        """An intermediate event waits for the object's next event and leaves after it."""
        deferred = self._deferred.pop(event.object_id, None)
        if deferred is None and not event.terminal:
            self._deferred[event.object_id] = event
            return
        self._schedule(event)
        if deferred is not None:
            self._schedule(deferred)

    def _schedule(self, event: WebhookEvent) -> None:
        previous = self._chains.get(event.object_id)
        task = asyncio.create_task(self._deliver_after(previous, event))
        self._chains[event.object_id] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_after(
        self, previous: asyncio.Task[None] | None, event: WebhookEvent
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        for _ in range(2 if self._switches.duplicate_webhooks else 1):
            await self._deliver(event)

    async def _deliver(self, event: WebhookEvent) -> None:
        backoff = list(self._switches.retry_backoff) if event.terminal else []
        for attempt in range(1, len(backoff) + 2):
            if await self._attempt(event, attempt):
                return
            if attempt <= len(backoff):
                await asyncio.sleep(backoff[attempt - 1])

    async def _attempt(self, event: WebhookEvent, attempt: int) -> bool:
        """One POST; True when the event needs no further attempt."""
        status: int | None = None
        error: str | None = None
        if not is_loopback(event.url):
            error = "refused: the fake only contacts loopback addresses"
        else:
            try:
                status = await self._post(event)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        self.deliveries.append(
            Delivery(
                event.event, event.object_id, event.url, event.webhook_id, attempt, status, error
            )
        )
        self._on_change()
        refused = status is None and error is not None and error.startswith("refused")
        return refused or (status is not None and 200 <= status < 300)

    async def _post(self, event: WebhookEvent) -> int:
        assert self._client is not None, "the dispatcher is not open"
        timestamp = int(time.time()) + self._switches.webhook_timestamp_offset
        secret = self._switches.webhook_secret
        if self._switches.corrupt_signatures:
            secret = new_secret()
        headers = {
            "content-type": "application/json",
            "user-agent": "Replicate-Webhooks/1.0",
            "webhook-id": event.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, event.webhook_id, timestamp, event.body),
        }
        response = await self._client.post(event.url, content=event.body, headers=headers)
        return response.status_code
