"""Schema extensions of our own: the sign-in gate, Apollo's code for invalid documents,
and a depth limit that counts introspection."""

from collections.abc import Iterator
from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from domain.errors import ErrorCode

UNAUTHENTICATED_MESSAGE = "Sign in: send `Authorization: Bearer <token>` with a valid token."


def _selects_only_introspection(operation: OperationDefinitionNode) -> bool:
    return all(
        isinstance(selection, FieldNode) and selection.name.value.startswith("__")
        for selection in operation.selection_set.selections
    )


class SignInGate(SchemaExtension):
    """Answers UNAUTHENTICATED, instead of running anything, without valid credentials.

    A rejected token blocks everything; without a token only introspection is
    answered (so GraphiQL can load its documentation). Subscriptions are gated
    when their WebSocket connects.
    """

    def on_execute(self) -> Iterator[None]:
        if self._must_refuse():
            self.execution_context.result = GraphQLExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        UNAUTHENTICATED_MESSAGE,
                        extensions={"code": ErrorCode.UNAUTHENTICATED.value},
                    )
                ],
            )
        yield

    def _must_refuse(self) -> bool:
        credentials = self.execution_context.context.credentials
        if credentials.user is not None:
            return False
        if credentials.rejected:
            return True
        document = self.execution_context.graphql_document
        operations = [
            definition
            for definition in (document.definitions if document else ())
            if isinstance(definition, OperationDefinitionNode)
        ]
        return not all(map(_selects_only_introspection, operations))


class ValidationErrorCode(SchemaExtension):
    """Codes a document that is not valid against the schema, or breaks the depth and
    alias limits, GRAPHQL_VALIDATION_FAILED, as Apollo Server does. (Only here is it
    known that an error came from validation.)"""

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            if not (error.extensions and "code" in error.extensions):
                error.extensions = {
                    **(error.extensions or {}),
                    "code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value,
                }


# The standard introspection query (GraphiQL's, Apollo's: nine levels of `ofType` under
# `__schema { types { fields { args { type ...`) is 14 deep.
MAX_DEPTH_WITH_INTROSPECTION = 15


class IntrospectionDepthRule(ASTValidationRule):
    """Refuses an operation deeper than MAX_DEPTH_WITH_INTROSPECTION, counting every field.

    Strawberry's depth limiter skips fields starting with `__`, so without this a
    `__schema { types { fields { type { ofType { ofType ...` could nest without bound.
    Depth is counted as that limiter does (a field with a selection set is one level).
    """

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        # Fragments already walked, with the depth they were entered at: the same
        # fragment entered no deeper cannot go deeper, so it is walked once.
        self._entered: dict[str, int] = {}

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        self._entered.clear()
        if self._too_deep(node.selection_set, 0):
            name = node.name.value if node.name else "anonymous"
            self.report_error(
                GraphQLError(
                    f"'{name}' exceeds maximum operation depth of "
                    f"{MAX_DEPTH_WITH_INTROSPECTION}, introspection included",
                    [node],
                )
            )

    def _too_deep(self, selection_set: SelectionSetNode, depth: int) -> bool:
        """Whether anything under `selection_set`, itself at `depth`, passes the limit;
        the walk stops at the limit, so recursion stays shallow."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.selection_set is None:
                    continue
                if depth + 1 > MAX_DEPTH_WITH_INTROSPECTION:
                    return True
                if self._too_deep(selection.selection_set, depth + 1):
                    return True
            elif isinstance(selection, InlineFragmentNode):
                if self._too_deep(selection.selection_set, depth):
                    return True
            elif isinstance(selection, FragmentSpreadNode) and self._spread_too_deep(
                selection, depth
            ):
                return True
        return False

    def _spread_too_deep(self, spread: FragmentSpreadNode, depth: int) -> bool:
        name = spread.name.value
        fragment = self.context.get_fragment(name)
        if fragment is None or self._entered.get(name, -1) >= depth:
            return False  # unknown fragments and cycles are other rules' errors
        self._entered[name] = depth
        return self._too_deep(fragment.selection_set, depth)
