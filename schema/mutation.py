from collections.abc import Sequence
from typing import cast

import strawberry

from domain.training.selfies import SelfieSource
from request_context.context import Info
from resolvers.global_ids import encode_global_id
from resolvers.mutations.cancel_training import cancel_training
from resolvers.mutations.delete_account import delete_account
from resolvers.mutations.delete_generation import delete_generation
from resolvers.mutations.generate_maya import generate_maya
from resolvers.mutations.generate_photoshoot import generate_photoshoot
from resolvers.mutations.select_image import select_image
from resolvers.mutations.start_training import start_training
from schema.types.deletion_payloads import DeleteAccountInput, DeletePayload
from schema.types.generation import GeneratedImage, Generation
from schema.types.generation_payloads import (
    GenerateMayaInput,
    GeneratePayload,
    GeneratePhotoshootInput,
)
from schema.types.training import TrainingJob, UserModel
from schema.types.training_payloads import StartTrainingInput, StartTrainingPayload


async def _start_training(info: Info, input: StartTrainingInput) -> StartTrainingPayload:
    selfies = cast(Sequence[SelfieSource], input.images)  # Starlette UploadFiles
    started = await start_training(info, selfies)
    return StartTrainingPayload(
        training_job=TrainingJob.from_domain(started.job),
        model=UserModel.from_domain(started.model),
    )


async def _cancel_training(info: Info, id: strawberry.ID) -> TrainingJob:
    return TrainingJob.from_domain(await cancel_training(info, id))


async def _generate_maya(info: Info, input: GenerateMayaInput) -> GeneratePayload:
    return GeneratePayload(
        generation=Generation.from_domain(await generate_maya(info, input.prompt))
    )


async def _generate_photoshoot(info: Info, input: GeneratePhotoshootInput) -> GeneratePayload:
    shown = await generate_photoshoot(info, str(input.style_id), input.details)
    return GeneratePayload(generation=Generation.from_domain(shown))


async def _select_image(info: Info, id: strawberry.ID) -> GeneratedImage:
    return GeneratedImage.from_domain(await select_image(info, id))


async def _delete_generation(info: Info, id: strawberry.ID) -> DeletePayload:
    await delete_generation(info, id)
    return DeletePayload(deleted_id=id)


async def _delete_account(info: Info, input: DeleteAccountInput) -> DeletePayload:
    return DeletePayload(
        deleted_id=encode_global_id("User", await delete_account(info, input.confirm))
    )


@strawberry.type
class Mutation:
    start_training: StartTrainingPayload = strawberry.mutation(resolver=_start_training)
    cancel_training: TrainingJob = strawberry.mutation(resolver=_cancel_training)
    generate_maya: GeneratePayload = strawberry.mutation(resolver=_generate_maya)
    generate_photoshoot: GeneratePayload = strawberry.mutation(resolver=_generate_photoshoot)
    select_image: GeneratedImage = strawberry.mutation(
        resolver=_select_image,
        description="Marks one image of a generation as the user's pick (and unmarks the others).",
    )
    delete_generation: DeletePayload = strawberry.mutation(
        resolver=_delete_generation,
        description=(
            "Deletes one of the user's finished generations and its stored images, for good. "
            "A generation still running answers BAD_USER_INPUT."
        ),
    )
    delete_account: DeletePayload = strawberry.mutation(
        resolver=_delete_account,
        description=(
            "Deletes the signed-in user and everything held for them: generations and images, "
            "training records, stored selfies, and the user's model on the provider (its "
            "versions first, then the model). Running work is canceled first. A later sign-in "
            "with the same subject starts a new, empty user."
        ),
    )
