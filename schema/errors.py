"""Every error the server returns carries `extensions.code` and the request's
`extensions.requestId`; unexpected ones are masked."""

import logging
import uuid
from typing import Any

import structlog
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.types import ExecutionContext

from domain.errors import DomainError, ErrorCode, NextStep

log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "Something went wrong on our side. Quote the requestId if you contact us."
# The domain names what the user can do next; this is how the API does it.
NEXT_STEP_HOW = {
    NextStep.TRAIN: "Use the `startTraining` mutation.",
    NextStep.FOLLOW_TRAINING: "Use the `trainingProgress` subscription.",
    NextStep.PICK_STYLE: "Use the `photoshootStyles` query.",
}


def assign_error_codes(
    errors: list[GraphQLError], execution_context: ExecutionContext | None
) -> None:
    """Rewrites the errors in place, once each.

    Strawberry hands every error of every path (parsing, validation, execution,
    subscriptions) through `Schema.process_errors`, so this is the one place to do it.
    """
    request_id = _request_id(execution_context)
    for error in errors:
        if not (error.extensions and "code" in error.extensions):
            _assign_code(error, request_id)
        if request_id is not None:
            error.extensions = {**(error.extensions or {}), "requestId": request_id}


def _assign_code(error: GraphQLError, request_id: str | None) -> None:
    original = error.original_error
    if isinstance(error, GraphQLSyntaxError):
        # Apollo Server's code for a document that does not parse (or is too long).
        error.extensions = {"code": ErrorCode.GRAPHQL_PARSE_FAILED.value}
    elif isinstance(original, DomainError):
        error.message = _message(original)
        error.extensions = {"code": original.code.value, **original.details()}
    elif original is None or isinstance(original, GraphQLError):
        # Variable coercion: the client's variables are wrong. (Validation errors
        # arrive coded by ValidationErrorCode.)
        error.extensions = {"code": ErrorCode.BAD_USER_INPUT.value}
    else:
        _mask(error, request_id or uuid.uuid4().hex)


def _message(error: DomainError) -> str:
    if error.next_step is None:
        return error.message
    return f"{error.message} {NEXT_STEP_HOW[error.next_step]}"


def _mask(error: GraphQLError, request_id: str) -> None:
    log.error(
        "unexpected error at %s (requestId=%s)",
        ".".join(map(str, error.path or ())) or "operation",
        request_id,
        exc_info=error.original_error,
    )
    error.message = INTERNAL_ERROR_MESSAGE
    error.extensions = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value, "requestId": request_id}


def _request_id(execution_context: ExecutionContext | None) -> str | None:
    """The request's id: its context's, else the one the server bound for its log lines."""
    context: Any = execution_context.context if execution_context else None
    request_id = getattr(context, "request_id", None)
    if request_id is None:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
    return request_id if isinstance(request_id, str) else None
