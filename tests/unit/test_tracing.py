"""Tracing: off unless the OTEL_* variables ask for an exporter; spans keep user data out."""

import importlib
import io
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import strawberry
import uvicorn
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import server.app
import server.tracing
from server import cli
from server.tracing import (
    Tracing,
    TracingConfigurationError,
    install_tracing,
    requested_exporters,
    tracing_from_environment,
)

SECRET = "a prompt nobody else may read"
PROTOBUF = "http/protobuf"


@pytest.fixture(autouse=True)
def no_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


Build = Callable[[], Tracing]


@pytest.fixture
def built() -> Iterator[Build]:
    """The tracing the variables set by the test ask for, closed after it."""
    opened: list[Tracing] = []

    def build() -> Tracing:
        tracing = tracing_from_environment()
        assert tracing is not None
        opened.append(tracing)
        return tracing

    yield build
    for tracing in opened:
        tracing.close()


def test_without_otel_variables_nothing_is_installed() -> None:
    assert requested_exporters() == ()
    assert install_tracing() is None

    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    with trace.get_tracer("test").start_as_current_span("anything") as span:
        assert not span.is_recording()


@pytest.mark.parametrize(
    ("variables", "exporters"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "otlp, Console"}, ("otlp", "console")),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            ("otlp",),
        ),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, ()),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, ()),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        ({"OTEL_SERVICE_NAME": "studio", "OTEL_TRACES_SAMPLER": "always_on"}, ()),
    ],
)
def test_the_standard_variables_turn_tracing_on(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], exporters: tuple[str, ...]
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    assert requested_exporters() == exporters


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER=zipkin"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json",
        ),
    ],
)
def test_an_exporter_this_server_lacks_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(TracingConfigurationError, match=named):
        requested_exporters()


def test_serve_refuses_to_start_with_such_an_exporter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SSELFIE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    # Enabled as in a `sselfie` process (a `logging.config` call by another test disables
    # the loggers that existed then).
    monkeypatch.setattr(cli.log, "disabled", False)

    assert cli.main(["serve", "--port", "0"]) == 2
    assert "OTEL_TRACES_EXPORTER=jaeger" in caplog.text
    assert not (tmp_path / "postgres").exists()  # refused before the database


def test_the_console_exporter_prints_each_span(
    monkeypatch: pytest.MonkeyPatch, built: Build
) -> None:
    printed = io.StringIO()
    monkeypatch.setattr(
        server.tracing, "ConsoleSpanExporter", partial(ConsoleSpanExporter, out=printed)
    )
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    tracing = built()

    tracing.provider.get_tracer("test").start_span("printed").end()
    tracing.provider.force_flush()

    assert '"name": "printed"' in printed.getvalue()


def test_the_otlp_exporter_posts_spans_to_the_endpoint_named(
    monkeypatch: pytest.MonkeyPatch, built: Build
) -> None:
    with collector() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=k1")
        tracing = built()
        tracing.provider.get_tracer("test").start_span("exported").end()
        tracing.provider.force_flush()

    [(path, headers, body)] = received
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    names = [span.name for scope in resource_spans.scope_spans for span in scope.spans]
    service = {
        attribute.key: attribute.value.string_value
        for attribute in resource_spans.resource.attributes
    }["service.name"]
    assert path == "/v1/traces"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["x-collector-key"] == "k1"
    assert (names, service) == (["exported"], "sselfie")


Received = list[tuple[str, dict[str, str], bytes]]


@contextmanager
def collector() -> Iterator[tuple[str, Received]]:
    """An OTLP/HTTP collector on loopback: its endpoint, and the requests it received."""
    received: Received = []

    class Collect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            received.append((self.path, headers, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collect)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()
        serving.join()


def test_the_service_is_named_sselfie_unless_the_variables_name_it(
    monkeypatch: pytest.MonkeyPatch, built: Build
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging")
    default = built().provider.resource.attributes
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    from_attributes = built().provider.resource.attributes
    monkeypatch.setenv("OTEL_SERVICE_NAME", "studio")
    named = built().provider.resource.attributes

    assert default["service.name"] == "sselfie"
    assert default["deployment.environment"] == "staging"
    assert from_attributes["service.name"] == "from-attributes"
    assert named["service.name"] == "studio"


def test_the_sampler_is_the_one_the_variables_name(
    monkeypatch: pytest.MonkeyPatch, built: Build
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")

    tracer = built().provider.get_tracer("test")

    with tracer.start_as_current_span("sampled out") as span:
        assert not span.is_recording()


def test_each_process_of_serve_workers_installs_the_tracing_asked_for(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> None:
    installed = object()
    built_with: dict[str, Any] = {}
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app))
    monkeypatch.setattr(server.tracing, "install_tracing", lambda: installed)
    monkeypatch.setattr(
        server.app, "create_app", lambda settings, url, **options: built_with.update(options)
    )
    monkeypatch.setenv("SSELFIE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", database_url)  # restored after: serve sets it

    assert cli.main(["serve", "--workers", "2", "--port", "0"]) == 0
    module, factory = served["app"].split(":")
    getattr(importlib.import_module(module), factory)()

    assert built_with["tracing"] is installed


@strawberry.type
class EchoQuery:
    @strawberry.field
    def echo(self, text: str) -> str:
        return text.upper()


def _traced_schema(provider: TracerProvider) -> strawberry.Schema:
    return strawberry.Schema(query=EchoQuery, extensions=[Tracing(provider).schema_extension()])


def _recorded() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _attribute_values(spans: tuple[ReadableSpan, ...]) -> list[str]:
    return [str(value) for span in spans for value in (span.attributes or {}).values()]


async def test_an_operation_span_records_neither_arguments_nor_string_literals() -> None:
    provider, exporter = _recorded()
    schema = _traced_schema(provider)

    inline = await schema.execute(f'query Shout {{ echo(text: "{SECRET}") }}')
    from_variables = await schema.execute(
        "query Whisper($text: String!) { echo(text: $text) }", variable_values={"text": SECRET}
    )

    assert inline.errors is None
    assert from_variables.errors is None
    spans = exporter.get_finished_spans()
    operations = {span.name: span for span in spans if span.kind is trace.SpanKind.SERVER}
    assert set(operations) == {"GraphQL Query: Shout", "GraphQL Query: Whisper"}
    shout = operations["GraphQL Query: Shout"].attributes or {}
    assert shout["graphql.document"] == 'query Shout {\n  echo(text: "")\n}'
    assert shout["graphql.operation.name"] == "Shout"
    assert shout["graphql.operation.type"] == "query"
    resolvers = [span for span in spans if span.name == "GraphQL Resolving: echo"]
    assert len(resolvers) == 2
    for resolver in resolvers:
        assert resolver.parent is not None
        assert resolver.parent.span_id in {
            span.context.span_id for span in operations.values() if span.context
        }
        assert not any(key.startswith("graphql.param") for key in resolver.attributes or {})
    assert not any(SECRET in value for value in _attribute_values(spans))


async def test_an_anonymous_request_is_named_after_the_operation_it_runs() -> None:
    provider, exporter = _recorded()

    await _traced_schema(provider).execute('query Named { echo(text: "hi") }')

    [operation] = [
        span for span in exporter.get_finished_spans() if span.kind is trace.SpanKind.SERVER
    ]
    assert operation.name == "GraphQL Query: Named"
