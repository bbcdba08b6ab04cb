"""Traces: each operation's span has the upstream calls and statements it made beneath it."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine

from server.tracing import Tracing
from tests.fake_replicate import FakeReplicate
from tests.integration.api import token_for
from tests.integration.studio import Studio, open_studio
from tests.selfies import make_selfies

SECRET_PROMPT = "portrait of me holding the launch codes"
INLINE_MAYA = (
    'mutation { generateMaya(input: {prompt: "' + SECRET_PROMPT + '"}) { generation { id } } }'
)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(
    database_url: str,
    data_dir: Path,
    engine: AsyncEngine,
    fake_replicate: FakeReplicate,
    exporter: InMemorySpanExporter,
) -> AsyncIterator[Studio]:
    """The studio, tracing into `exporter` (its provider not installed globally)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, tracing=Tracing(provider)
    ) as studio:
        yield studio


def _attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def _url(span: ReadableSpan) -> str:
    attributes = _attributes(span)
    return str(attributes.get("url.full") or attributes.get("http.url") or "")


def _method(span: ReadableSpan) -> str:
    attributes = _attributes(span)
    return str(attributes.get("http.request.method") or attributes.get("http.method") or "")


def _statement(span: ReadableSpan) -> str:
    attributes = _attributes(span)
    return str(attributes.get("db.query.text") or attributes.get("db.statement") or "")


def _ancestors(span: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    by_id = {each.context.span_id: each for each in spans if each.context is not None}
    chain: list[ReadableSpan] = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def _beneath(operation: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    """The spans whose parent chain reaches `operation`, in its trace."""
    assert operation.context is not None
    return [
        span
        for span in spans
        if span.context is not None
        and span.context.trace_id == operation.context.trace_id
        and operation in _ancestors(span, spans)
    ]


def _operations(spans: tuple[ReadableSpan, ...], kind: str) -> list[ReadableSpan]:
    return [
        span
        for span in spans
        if span.kind is SpanKind.SERVER and _attributes(span).get("graphql.operation.type") == kind
    ]


async def test_an_operation_span_has_its_upstream_calls_and_statements_beneath_it(
    traced: Studio, exporter: InMemorySpanExporter
) -> None:
    body = await traced.start_training("alice", make_selfies(10))

    assert "errors" not in body
    spans = exporter.get_finished_spans()
    [operation] = _operations(spans, "mutation")
    beneath = _beneath(operation, spans)
    upstream = {
        (
            _attributes(span).get("http.method") or _attributes(span).get("http.request.method"),
            _url(span),
        )
        for span in beneath
        if span.kind is SpanKind.CLIENT and _url(span).startswith(traced.fake.base_url)
    }
    base = traced.fake.base_url
    assert ("POST", f"{base}/models") in upstream
    assert ("POST", f"{base}/files") in upstream
    assert any(method == "POST" and url.endswith("/trainings") for method, url in upstream)
    statements = [_statement(span) for span in beneath if _statement(span)]
    assert any(statement.startswith("INSERT INTO training_jobs") for statement in statements)
    resolver = [span for span in beneath if span.name == "GraphQL Resolving: startTraining"]
    assert len(resolver) == 1


async def test_no_span_records_a_prompt(traced: Studio, exporter: InMemorySpanExporter) -> None:
    await traced.trained("alice")

    body = await traced.api.graphql(INLINE_MAYA, token=token_for("alice"))

    assert "errors" not in body
    spans = exporter.get_finished_spans()
    [maya] = [
        span
        for span in _operations(spans, "mutation")
        if "generateMaya" in str(_attributes(span).get("graphql.document"))
    ]
    assert 'prompt: ""' in str(_attributes(maya).get("graphql.document"))
    assert any(
        span.kind is SpanKind.CLIENT and _url(span) == f"{traced.fake.base_url}/predictions"
        for span in _beneath(maya, spans)
    )
    recorded = [str(value) for span in spans for value in _attributes(span).values()]
    assert not [value for value in recorded if SECRET_PROMPT in value]
