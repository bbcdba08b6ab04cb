from collections.abc import Sequence

from domain.training.selfies import SelfieSource
from domain.training.service import StartedTraining
from request_context.context import Info


async def start_training(info: Info, selfies: Sequence[SelfieSource]) -> StartedTraining:
    return await info.context.services.training.start(info.context.user, selfies)
