"""Relay connections: keyset pages, newest first."""

import strawberry

from schema.types.generation import Generation
from schema.types.training_job import TrainingJob


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class GenerationEdge:
    cursor: str
    node: Generation


@strawberry.type
class GenerationConnection:
    edges: list[GenerationEdge]
    page_info: PageInfo


@strawberry.type
class TrainingJobEdge:
    cursor: str
    node: TrainingJob


@strawberry.type
class TrainingJobConnection:
    edges: list[TrainingJobEdge]
    page_info: PageInfo
