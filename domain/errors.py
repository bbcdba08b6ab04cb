"""Typed errors the domain raises; each carries the API's error code."""

from enum import StrEnum


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    MODEL_NOT_READY = "MODEL_NOT_READY"
    TRAINING_IN_PROGRESS = "TRAINING_IN_PROGRESS"
    RATE_LIMITED = "RATE_LIMITED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    NOT_CONFIGURED = "NOT_CONFIGURED"
    CAPACITY_REACHED = "CAPACITY_REACHED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


class DomainError(Exception):
    """An expected failure whose message is safe and useful to show the user."""

    code: ErrorCode = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, object]:
        """Extra machine-readable facts for the client (e.g. retryAfter)."""
        return {}


class Unauthenticated(DomainError):
    code = ErrorCode.UNAUTHENTICATED


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class BadUserInput(DomainError):
    code = ErrorCode.BAD_USER_INPUT


class TrainingInProgress(DomainError):
    code = ErrorCode.TRAINING_IN_PROGRESS


class CapacityReached(DomainError):
    code = ErrorCode.CAPACITY_REACHED
