"""What resolvers hand the schema besides plain domain objects: a generation with its
images, a page of a connection."""

from dataclasses import dataclass
from typing import Generic, TypeVar

from domain.generation.models import GeneratedImage, Generation

T = TypeVar("T")


@dataclass(frozen=True)
class ShownGeneration:
    generation: Generation
    images: list[GeneratedImage]


@dataclass(frozen=True)
class Edge(Generic[T]):
    cursor: str
    node: T


@dataclass(frozen=True)
class Connection(Generic[T]):
    edges: list[Edge[T]]
    has_next_page: bool
    has_previous_page: bool

    @property
    def start_cursor(self) -> str | None:
        return self.edges[0].cursor if self.edges else None

    @property
    def end_cursor(self) -> str | None:
        return self.edges[-1].cursor if self.edges else None
