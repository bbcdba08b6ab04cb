"""The GraphQL schema: types, inputs, enums, root operations and the schema's assembly."""

from schema.build import build_schema

__all__ = ["build_schema"]
