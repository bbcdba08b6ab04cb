"""Every operation's name, type, error codes and duration, told to an observer the server
provides (this layer knows nothing of how it is counted), and when subscriptions open and
close."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from domain.errors import ErrorCode

# Raised out of the operation (the view answers 400), not errors in its result.
_CLIENT_MISTAKES = (MissingQueryError, InvalidOperationTypeError, CannotGetOperationTypeError)


@dataclass(frozen=True)
class FinishedOperation:
    # As the client named it (unchecked: the observer bounds what it keeps).
    name: str | None
    # query, mutation or subscription; None when the document never parsed.
    type: str | None
    # The codes of the result's errors, first error first, each once.
    error_codes: tuple[str, ...]
    seconds: float

    @property
    def outcome(self) -> str:
        """`ok`, or the first error's code."""
        return self.error_codes[0] if self.error_codes else "ok"


class OperationObserver(Protocol):
    def operation_finished(self, operation: FinishedOperation) -> None: ...

    def subscription_opened(self) -> None: ...

    def subscription_closed(self) -> None: ...


class OperationMetrics(SchemaExtension):
    """Reports each operation once it ends (a subscription: once it is over), however it
    ends. Put it outermost: its duration then covers the other extensions too."""

    def __init__(self, *, observer: OperationObserver) -> None:
        self._observer = observer
        self._subscribed = False

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        escaped: Exception | None = None
        try:
            yield
        except Exception as error:
            escaped = error
            raise
        finally:
            if self._subscribed:
                self._observer.subscription_closed()
            self._observer.operation_finished(
                FinishedOperation(
                    name=self.execution_context.operation_name,
                    type=self._operation_type(),
                    error_codes=self._error_codes(escaped),
                    seconds=time.perf_counter() - started,
                )
            )

    def on_execute(self) -> Iterator[None]:
        if self._operation_type() == OperationType.SUBSCRIPTION.value and not self._subscribed:
            self._subscribed = True
            self._observer.subscription_opened()
        yield

    def _operation_type(self) -> str | None:
        if self.execution_context.graphql_document is None:
            return None
        try:
            return self.execution_context.operation_type.value
        except RuntimeError:  # names an operation the document lacks
            return None

    def _error_codes(self, escaped: Exception | None) -> tuple[str, ...]:
        if escaped is not None:
            mistake = isinstance(escaped, _CLIENT_MISTAKES)
            code = ErrorCode.BAD_USER_INPUT if mistake else ErrorCode.INTERNAL_SERVER_ERROR
            return (code.value,)
        context = self.execution_context
        errors: list[GraphQLError] = list(context.pre_execution_errors or ())
        if not errors and context.result is not None:
            errors = list(context.result.errors or ())
        codes = (str((error.extensions or {}).get("code")) for error in errors)
        return tuple(dict.fromkeys(codes))
