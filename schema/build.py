from collections.abc import Callable, Sequence
from functools import partial

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.enums import ErrorCode
from schema.errors import assign_error_codes
from schema.extensions import IntrospectionDepthRule, SignInGate, ValidationErrorCode
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription

MAX_QUERY_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2_000
PARSER_CACHE_SIZE = 512
VALIDATION_CACHE_SIZE = 512


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        assign_error_codes(errors, execution_context)


def _limit_rules() -> list[type[ASTValidationRule]]:
    """The depth and alias limits as validation rules, made once.

    Each limiter extension makes a new rule class when built, and the validation
    cache keys on the rule classes: built per request, no document would ever hit
    the cache. So the rules are made here once and every request adds the same ones.
    Strawberry's depth limit skips introspection fields, so a second one counts them.
    (graphql-core's own rules already cap nesting introspection's lists.)
    """
    return [
        *QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
        IntrospectionDepthRule,
    ]


def build_schema(
    *, production: bool = False, outer_extensions: Sequence[Callable[[], SchemaExtension]] = ()
) -> strawberry.Schema:
    """`outer_extensions` (the server's tracing) wrap all the others: their operation
    covers the limits and caches too."""
    extensions: list[Callable[[], SchemaExtension]] = [
        *outer_extensions,
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(ParserCache, maxsize=PARSER_CACHE_SIZE),
        partial(AddValidationRules, _limit_rules()),
        partial(ValidationCache, maxsize=VALIDATION_CACHE_SIZE),
        ValidationErrorCode,
        SignInGate,
    ]
    if production:
        extensions.append(DisableIntrospection)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[ErrorCode],
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=production),
    )
