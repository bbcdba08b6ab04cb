"""Fields of `User`."""

from domain.generation.models import GenerationSource
from domain.training.models import TrainingJob
from domain.users.models import UserModel
from request_context.context import Info
from resolvers.cursors import decode_cursor, encode_cursor, page_size
from resolvers.generation_nodes import with_images
from resolvers.views import Connection, Edge, ShownGeneration


async def user_model(info: Info, user_id: str) -> UserModel | None:
    return await info.context.loaders.model_by_user.load(user_id)


async def generations(
    info: Info, first: int | None, after: str | None, source: GenerationSource | None
) -> Connection[ShownGeneration]:
    page = await info.context.services.generation.page(
        info.context.user,
        first=page_size(first, default=20),
        after=decode_cursor(after),
        source=source,
    )
    edges = [
        Edge(encode_cursor(item.created_at, item.id), shown)
        for item, shown in zip(page.items, await with_images(info, page.items), strict=True)
    ]
    return Connection(edges, has_next_page=page.has_next, has_previous_page=after is not None)


async def training_jobs(
    info: Info, first: int | None, after: str | None
) -> Connection[TrainingJob]:
    page = await info.context.services.training.page(
        info.context.user, first=page_size(first, default=10), after=decode_cursor(after)
    )
    edges = [Edge(encode_cursor(item.created_at, item.id), item) for item in page.items]
    return Connection(edges, has_next_page=page.has_next, has_previous_page=after is not None)
