"""OpenTelemetry traces, off unless the standard OTEL_* variables ask for an exporter.

On when OTEL_TRACES_EXPORTER names one (`otlp`, `console`, or both, comma-separated), or,
with OTEL_TRACES_EXPORTER unset, when OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (then `otlp`). OTEL_TRACES_EXPORTER=none or
OTEL_SDK_DISABLED=true keeps it off. `otlp` is OTLP over HTTP (protobuf), the exporter
installed here. The SDK and the exporter read the rest of the OTEL_* variables themselves:
OTEL_SERVICE_NAME (here "sselfie" unless set), OTEL_RESOURCE_ATTRIBUTES,
OTEL_TRACES_SAMPLER(_ARG), OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, compression,
certificates) and OTEL_BSP_* (batching).

On, spans cover each GraphQL operation and its resolvers, each call through the Replicate
HTTP client, and each database statement. Off, nothing is installed: a span costs what the
API's no-op tracer costs.
"""

import logging
import os
from collections.abc import Callable, Generator
from contextlib import suppress
from functools import partial
from typing import Any

import httpx
from graphql import GraphQLResolveInfo, StringValueNode, Visitor, print_ast, visit
from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
)
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.extensions import LifecycleStep, SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension
from strawberry.types import ExecutionContext

log = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "sselfie"
OTLP = "otlp"
CONSOLE = "console"
NONE = "none"
# The one OTLP transport installed (opentelemetry-exporter-otlp-proto-http).
OTLP_PROTOCOL = "http/protobuf"


class TracingConfigurationError(Exception):
    """The OTEL_* variables ask for what this server cannot do; the message names it."""


class Tracing:
    """A tracer provider and what it traces; `close()` exports what is left and stops it."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._traces_database = False

    def schema_extension(self) -> Callable[[], SchemaExtension]:
        """The GraphQL schema's extension making a span per operation (and per resolver)."""
        return partial(PrivateOpenTelemetryExtension, tracer_provider=self.provider)

    def trace_http_client(self, client: httpx.AsyncClient) -> None:
        """A span per request through `client` (this instance only)."""
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=self.provider)

    def trace_database(self, engine: AsyncEngine) -> None:
        """A span per statement on `engine`. The instrumentation is one per process: a
        second runtime open in the same process at once is not traced (it logs so)."""
        instrumented = SQLAlchemyInstrumentor().instrument(
            engine=engine.sync_engine,
            tracer_provider=self.provider,
            # It declares SQLAlchemy < 2.1 but needs only its stable event API, which
            # 2.1 keeps (tests/integration/test_tracing.py sees the statements).
            skip_dep_check=True,
        )
        self._traces_database = instrumented is not None

    def close(self) -> None:
        if self._traces_database:
            SQLAlchemyInstrumentor().uninstrument()
            self._traces_database = False
        self.provider.shutdown()


def requested_exporters() -> tuple[str, ...]:
    """The exporters the OTEL_* variables ask for: none when tracing is off.
    TracingConfigurationError for one this server does not have."""
    if os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return ()
    named = os.environ.get(OTEL_TRACES_EXPORTER, "").strip()
    if named:
        exporters = [name.strip().lower() for name in named.split(",") if name.strip()]
    elif os.environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or os.environ.get(
        OTEL_EXPORTER_OTLP_ENDPOINT
    ):
        exporters = [OTLP]
    else:
        return ()
    if unknown := [name for name in exporters if name not in (OTLP, CONSOLE, NONE)]:
        raise TracingConfigurationError(
            f"{OTEL_TRACES_EXPORTER}={named}: {', '.join(unknown)} is not one of "
            f"{OTLP}, {CONSOLE}, {NONE}"
        )
    if OTLP in exporters:
        _check_otlp_protocol()
    return tuple(dict.fromkeys(name for name in exporters if name != NONE))


def _check_otlp_protocol() -> None:
    for variable in (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL):
        protocol = os.environ.get(variable, "").strip()
        if protocol:
            if protocol != OTLP_PROTOCOL:
                raise TracingConfigurationError(
                    f"{variable}={protocol}: only {OTLP_PROTOCOL} is supported"
                )
            return


def tracing_from_environment() -> Tracing | None:
    """The tracing the OTEL_* variables ask for, not installed globally; None when off."""
    exporters = requested_exporters()
    if not exporters:
        return None
    provider = TracerProvider(resource=service_resource())  # reads OTEL_TRACES_SAMPLER itself
    for name in exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    return Tracing(provider)


def install_tracing() -> Tracing | None:
    """For a process's entry point: the tracing the OTEL_* variables ask for, installed as
    the global tracer provider (what spans started through the API, and trace context
    carried into tasks, use). None, and nothing installed, when off."""
    tracing = tracing_from_environment()
    if tracing is not None:
        trace.set_tracer_provider(tracing.provider)
        log.info("tracing on: spans exported to %s", ", ".join(requested_exporters()))
    return tracing


def service_resource() -> Resource:
    """The SDK's resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME), named "sselfie"
    unless those name the service."""
    named = OTELResourceDetector().detect().attributes.get(SERVICE_NAME)
    return Resource.create({SERVICE_NAME: named or DEFAULT_SERVICE_NAME})


def _exporter(name: str) -> SpanExporter:
    if name == CONSOLE:
        return ConsoleSpanExporter()
    return OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_(TRACES_)* itself


class PrivateOpenTelemetryExtension(OpenTelemetryExtension):
    """Strawberry's OpenTelemetry extension, keeping user data out of span attributes.

    Strawberry's records every resolver's arguments (`graphql.param.*`: prompts, upload
    names) and the operation's whole text, where a client may write a prompt inline. This
    one records no argument, and the document only with every string literal blanked.
    Neither records variables.
    """

    def filter_resolver_args(
        self, args: dict[str, Any], info: GraphQLResolveInfo[Any]
    ) -> dict[str, Any]:
        return {}

    def on_operation(self) -> Generator[None]:
        context = self.execution_context
        span = self._tracer.start_span(_span_name(context), kind=SpanKind.SERVER)
        span.set_attribute("component", "graphql")
        self._span_holder[LifecycleStep.OPERATION] = span
        try:
            yield
        finally:
            # Named once parsed: an anonymous request may run a named operation.
            span.update_name(_span_name(context))
            _describe_operation(span, context)
            span.end()


def _span_name(context: ExecutionContext) -> str:
    """Strawberry's span names."""
    name = context.operation_name
    return f"GraphQL Query: {name}" if name else "GraphQL Query"


def _describe_operation(span: Span, context: ExecutionContext) -> None:
    document = context.graphql_document
    if document is None or not span.is_recording():
        return
    span.set_attribute("graphql.document", print_ast(visit(document, _BlankStrings())))
    if context.operation_name:
        span.set_attribute("graphql.operation.name", context.operation_name)
    # No such operation in the document: the execution reported it.
    with suppress(RuntimeError):
        span.set_attribute("graphql.operation.type", context.operation_type.value)


class _BlankStrings(Visitor):
    def enter_string_value(self, node: StringValueNode, *_: object) -> StringValueNode:
        return StringValueNode(value="", block=False)
