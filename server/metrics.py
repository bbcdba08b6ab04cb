"""The Prometheus metrics every serving process counts, and the bounded labels they take.

Labels never carry a user id, a raw path or anything a client can vary without bound:
routes are templates (`/images/{image_id}`), upstream endpoints are method and path
template, operation names are kept only when short and plain, and only so many of them.

With PROMETHEUS_MULTIPROC_DIR set before prometheus_client is imported (`sselfie serve
--workers N` sets it for its children) the values live in files there, and a scrape adds
up every process's (server/metrics_endpoint.py).
"""

import re
from collections.abc import Callable
from enum import StrEnum
from functools import partial

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics
from strawberry.extensions import SchemaExtension

from domain.errors import ErrorCode
from schema.metrics_extension import FinishedOperation, OperationMetrics

# The refusals an allowance or a precondition answers an operation with.
ALLOWANCE_CODES = (
    ErrorCode.RATE_LIMITED,
    ErrorCode.QUOTA_EXCEEDED,
    ErrorCode.MODEL_NOT_READY,
    ErrorCode.TRAINING_IN_PROGRESS,
    ErrorCode.CAPACITY_REACHED,
)
ANONYMOUS = "anonymous"
OTHER = "other"
# Distinct operation names labelled per process; any later new name counts as "other".
MAX_OPERATION_NAMES = 200
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_ERROR_CODES = frozenset(code.value for code in ErrorCode)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# No `_created` series beside each counter and histogram: nothing here reads them (and in
# multiprocess mode there are none).
disable_created_metrics()  # type: ignore[no-untyped-call]


class WebhookVerdict(StrEnum):
    ACCEPTED = "accepted"  # applied to its job
    DUPLICATE = "duplicate"  # delivered before: changed nothing
    UNKNOWN_JOB = "unknown_job"  # its URL names no job, or one that does not exist
    BAD_TOKEN = "bad_token"  # its URL's token is not its job's  # noqa: S105
    TOO_LARGE = "too_large"
    BAD_SIGNATURE = "bad_signature"
    UNREADABLE = "unreadable"  # signed, but not a report this server can read
    UNCONFIRMED = "unconfirmed"  # names another upstream job than its job's
    DEFERRED = "deferred"  # not applied for now (no secret to verify, provider down)


# Where a webhook names no job (its kind is not known either).
NO_KIND = "none"
WEBHOOK_KINDS = ("training_job", "generation")

GRAPHQL_OPERATIONS = Counter(
    "sselfie_graphql_operations",
    "GraphQL operations ended, by name, type and outcome (ok, or the first error's code); "
    "a subscription counts when it ends.",
    ["operation", "type", "outcome"],
)
GRAPHQL_DURATION = Histogram(
    "sselfie_graphql_operation_duration_seconds",
    "How long GraphQL queries and mutations took, parsing to result (not subscriptions).",
    ["operation", "type"],
    buckets=_LATENCY_BUCKETS,
)
ALLOWANCE_REFUSALS = Counter(
    "sselfie_allowance_refusals",
    "Operations refused by an allowance or a precondition, by error code.",
    ["code"],
)
OPEN_SUBSCRIPTIONS = Gauge(
    "sselfie_graphql_open_subscriptions",
    "GraphQL subscriptions open now.",
    multiprocess_mode="livesum",
)
HTTP_REQUESTS = Counter(
    "sselfie_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "sselfie_http_request_duration_seconds",
    "How long HTTP requests took to answer, by method and route template.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
WEBHOOKS = Counter(
    "sselfie_webhooks_received",
    "Replicate webhooks received, by the kind of job their URL names and verdict.",
    ["kind", "verdict"],
)
UPSTREAM_REQUESTS = Counter(
    "sselfie_upstream_requests",
    "Requests to Replicate's API, by endpoint (method and path template) and status "
    "(the HTTP status, or timeout or error when none came).",
    ["endpoint", "status"],
)
UPSTREAM_DURATION = Histogram(
    "sselfie_upstream_request_duration_seconds",
    "How long requests to Replicate's API took, by endpoint.",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS,
)
IMAGES_SERVED = Counter(
    "sselfie_images_served",
    "Image URLs answered with the image: sent from here (file) or redirected to the bucket.",
    ["delivery"],
)
IMAGE_BYTES_SERVED = Counter(
    "sselfie_image_bytes_served",
    "Bytes of images sent from here (a redirect sends none).",
)

# Series that exist from the start at 0, so that rates and alerts see them.
for _code in ALLOWANCE_CODES:
    ALLOWANCE_REFUSALS.labels(_code.value)
for _kind in WEBHOOK_KINDS:
    for _verdict in WebhookVerdict:
        WEBHOOKS.labels(_kind, _verdict.value)
WEBHOOKS.labels(NO_KIND, WebhookVerdict.UNKNOWN_JOB.value)
for _delivery in ("file", "redirect"):
    IMAGES_SERVED.labels(_delivery)


class OperationNames:
    """Operation names as labels: plain and short ones, up to a number of them."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._kept: set[str] = set()

    def label(self, name: str | None) -> str:
        if name is None:
            return ANONYMOUS
        if _PLAIN_NAME.fullmatch(name) is None:
            return OTHER
        if name not in self._kept:
            if len(self._kept) >= self._limit:
                return OTHER
            self._kept.add(name)
        return name


class PrometheusOperations:
    """What the schema's OperationMetrics extension reports, counted."""

    def __init__(self, max_names: int = MAX_OPERATION_NAMES) -> None:
        self._names = OperationNames(max_names)

    def operation_finished(self, operation: FinishedOperation) -> None:
        name = self._names.label(operation.name)
        kind = operation.type or "unknown"
        outcome = operation.outcome
        if outcome != "ok" and outcome not in _ERROR_CODES:
            outcome = OTHER
        GRAPHQL_OPERATIONS.labels(name, kind, outcome).inc()
        if operation.type != "subscription":
            GRAPHQL_DURATION.labels(name, kind).observe(operation.seconds)
        for code in ALLOWANCE_CODES:
            if code.value in operation.error_codes:
                ALLOWANCE_REFUSALS.labels(code.value).inc()

    def subscription_opened(self) -> None:
        OPEN_SUBSCRIPTIONS.inc()

    def subscription_closed(self) -> None:
        OPEN_SUBSCRIPTIONS.dec()


_operations = PrometheusOperations()


def operation_metrics() -> Callable[[], SchemaExtension]:
    """The schema extension that counts operations (see build_schema's outer_extensions)."""
    return partial(OperationMetrics, observer=_operations)


def method_label(method: str) -> str:
    return method if method in _METHODS else OTHER


def count_webhook(kind: str | None, verdict: WebhookVerdict) -> None:
    WEBHOOKS.labels(kind if kind in WEBHOOK_KINDS else NO_KIND, verdict.value).inc()


def count_image_served(sent_bytes: int | None) -> None:
    """An image answered: `sent_bytes` sent from here, or None for a redirect."""
    if sent_bytes is None:
        IMAGES_SERVED.labels("redirect").inc()
        return
    IMAGES_SERVED.labels("file").inc()
    IMAGE_BYTES_SERVED.inc(sent_bytes)
