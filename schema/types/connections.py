"""Relay connections: keyset pages, newest first."""

from typing import Self

import strawberry

from domain.training.models import TrainingJob as DomainTrainingJob
from resolvers.views import Connection, ShownGeneration
from schema.types.generation import Generation
from schema.types.training import TrainingJob


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, connection: Connection[ShownGeneration] | Connection[DomainTrainingJob]) -> Self:
        return cls(
            has_next_page=connection.has_next_page,
            has_previous_page=connection.has_previous_page,
            start_cursor=connection.start_cursor,
            end_cursor=connection.end_cursor,
        )


@strawberry.type
class GenerationEdge:
    cursor: str
    node: Generation


@strawberry.type
class GenerationConnection:
    edges: list[GenerationEdge]
    page_info: PageInfo

    @classmethod
    def from_domain(cls, connection: Connection[ShownGeneration]) -> Self:
        return cls(
            edges=[
                GenerationEdge(cursor=edge.cursor, node=Generation.from_domain(edge.node))
                for edge in connection.edges
            ],
            page_info=PageInfo.of(connection),
        )


@strawberry.type
class TrainingJobEdge:
    cursor: str
    node: TrainingJob


@strawberry.type
class TrainingJobConnection:
    edges: list[TrainingJobEdge]
    page_info: PageInfo

    @classmethod
    def from_domain(cls, connection: Connection[DomainTrainingJob]) -> Self:
        return cls(
            edges=[
                TrainingJobEdge(cursor=edge.cursor, node=TrainingJob.from_domain(edge.node))
                for edge in connection.edges
            ],
            page_info=PageInfo.of(connection),
        )
