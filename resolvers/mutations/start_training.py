from collections.abc import Sequence
from typing import cast

from domain.training.selfies import SelfieSource
from resolvers.context import Info
from schema.types.training_job import TrainingJob
from schema.types.training_payloads import StartTrainingInput, StartTrainingPayload
from schema.types.user_model import UserModel


async def start_training(info: Info, input: StartTrainingInput) -> StartTrainingPayload:
    selfies = cast(Sequence[SelfieSource], input.images)  # Starlette UploadFiles
    started = await info.context.services.training.start(info.context.user, selfies)
    return StartTrainingPayload(
        training_job=TrainingJob.from_domain(started.job),
        model=UserModel.from_domain(started.model),
    )
