"""Schema extensions of our own: the sign-in gate, Apollo's code for invalid documents."""

from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import FieldNode, GraphQLError, OperationDefinitionNode
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
