"""Every GraphQL error says the id of the request it answers, beside its own extensions."""

from types import SimpleNamespace
from typing import cast

import structlog
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from domain.errors import RateLimited
from schema.errors import INTERNAL_ERROR_MESSAGE, assign_error_codes


def context_of(request_id: str) -> ExecutionContext:
    return cast(ExecutionContext, SimpleNamespace(context=SimpleNamespace(request_id=request_id)))


def test_coded_uncoded_and_masked_errors_all_carry_the_request_id() -> None:
    errors = [
        GraphQLError("slow down", original_error=RateLimited("Too many.", retry_after=30)),
        GraphQLError("invalid", extensions={"code": "GRAPHQL_VALIDATION_FAILED"}),
        GraphQLError("boom", original_error=RuntimeError("internals")),
    ]

    assign_error_codes(errors, context_of("r-9"))

    assert [error.extensions for error in errors] == [
        {"code": "RATE_LIMITED", "retryAfter": 30, "requestId": "r-9"},
        {"code": "GRAPHQL_VALIDATION_FAILED", "requestId": "r-9"},
        {"code": "INTERNAL_SERVER_ERROR", "requestId": "r-9"},
    ]
    assert errors[2].message == INTERNAL_ERROR_MESSAGE


def test_without_a_context_the_id_bound_for_the_logs_is_used() -> None:
    error = GraphQLError("invalid", extensions={"code": "GRAPHQL_VALIDATION_FAILED"})

    with structlog.contextvars.bound_contextvars(request_id="bound-1"):
        assign_error_codes([error], None)

    assert error.extensions == {"code": "GRAPHQL_VALIDATION_FAILED", "requestId": "bound-1"}
