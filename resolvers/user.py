"""Fields of `User`."""

from typing import TYPE_CHECKING

from domain.generation.models import GenerationSource
from resolvers.context import Info
from resolvers.cursors import decode_cursor, encode_cursor, page_size
from resolvers.generation_nodes import with_images
from schema.types.connections import (
    GenerationConnection,
    GenerationEdge,
    PageInfo,
    TrainingJobConnection,
    TrainingJobEdge,
)
from schema.types.training_job import TrainingJob
from schema.types.user_model import UserModel

if TYPE_CHECKING:
    from schema.types.user import User


async def resolve_user_model(root: "User", info: Info) -> UserModel | None:
    model = await info.context.loaders.model_by_user.load(root.user_id)
    return UserModel.from_domain(model) if model else None


async def resolve_generations(
    root: "User",
    info: Info,
    first: int | None = 20,
    after: str | None = None,
    source: GenerationSource | None = None,
) -> GenerationConnection:
    page = await info.context.services.generation.page(
        info.context.user,
        first=page_size(first, default=20),
        after=decode_cursor(after),
        source=source,
    )
    edges = [
        GenerationEdge(cursor=encode_cursor(item.created_at, item.id), node=node)
        for item, node in zip(page.items, await with_images(info, page.items), strict=True)
    ]
    return GenerationConnection(edges=edges, page_info=_page_info(edges, page.has_next, after))


async def resolve_training_jobs(
    root: "User", info: Info, first: int | None = 10, after: str | None = None
) -> TrainingJobConnection:
    page = await info.context.services.training.page(
        info.context.user, first=page_size(first, default=10), after=decode_cursor(after)
    )
    edges = [
        TrainingJobEdge(
            cursor=encode_cursor(item.created_at, item.id), node=TrainingJob.from_domain(item)
        )
        for item in page.items
    ]
    return TrainingJobConnection(edges=edges, page_info=_page_info(edges, page.has_next, after))


def _page_info(
    edges: list[GenerationEdge] | list[TrainingJobEdge], has_next: bool, after: str | None
) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
