import strawberry

from domain.generation.models import GeneratedImage as DomainGeneratedImage
from domain.training.models import TrainingJob as DomainTrainingJob
from domain.users.models import User as DomainUser
from domain.users.models import UserModel as DomainUserModel
from request_context.context import Info
from resolvers.me import me
from resolvers.node import NodeObject, node, nodes
from resolvers.photoshoot_styles import photoshoot_styles
from resolvers.views import ShownGeneration
from schema.node import Node
from schema.types.generation import GeneratedImage, Generation
from schema.types.photoshoot_style import PhotoshootStyle
from schema.types.training import TrainingJob, UserModel
from schema.types.user import User


def _as_node(found: NodeObject | None) -> Node | None:
    match found:
        case DomainUser():
            return User.from_domain(found)
        case DomainUserModel():
            return UserModel.from_domain(found)
        case DomainTrainingJob():
            return TrainingJob.from_domain(found)
        case ShownGeneration():
            return Generation.from_domain(found)
        case DomainGeneratedImage():
            return GeneratedImage.from_domain(found)
    return None


def _me(info: Info) -> User:
    return User.from_domain(me(info))


async def _node(info: Info, id: strawberry.ID) -> Node | None:
    return _as_node(await node(info, id))


async def _nodes(info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
    return [_as_node(found) for found in await nodes(info, list(ids))]


def _photoshoot_styles(info: Info, category: str | None = None) -> list[PhotoshootStyle]:
    return [PhotoshootStyle.from_domain(style) for style in photoshoot_styles(info, category)]


@strawberry.type
class Query:
    me: User = strawberry.field(resolver=_me, description="The signed-in user.")
    node: Node | None = strawberry.field(
        resolver=_node,
        description="Any object the signed-in user owns, by global ID; null for anything else.",
    )
    nodes: list[Node | None] = strawberry.field(
        resolver=_nodes,
        description=(
            "Several objects by global ID, in the order asked; null for each the user does not own."
        ),
    )
    photoshoot_styles: list[PhotoshootStyle] = strawberry.field(
        resolver=_photoshoot_styles, description="The curated photoshoot styles."
    )
