"""What a user does through a real server, as the e2e tests repeat it."""

import httpx

from tests.fake_replicate import FakeReplicate
from tests.integration.api import Api, token_for
from tests.integration.studio import GENERATE_MAYA, START_TRAINING
from tests.selfies import make_selfies


async def start_training(base_url: str) -> str:
    """alice uploads 10 selfies: her training's id."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        files = [(f"{i}.jpg", image) for i, image in enumerate(make_selfies(10))]
        body = await Api(client).upload(START_TRAINING, files, token=token_for("alice"))
    job_id: str = body["data"]["startTraining"]["trainingJob"]["id"]
    return job_id


async def trained_and_generating(base_url: str, fake: FakeReplicate, prompt: str) -> str:
    """alice's model trained, and a Maya generation started: its id."""
    await start_training(base_url)
    await fake.play(fake.trainings[-1].id)
    await fake.settle()
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        body = await Api(client).graphql(
            GENERATE_MAYA, token=token_for("alice"), variables={"prompt": prompt}
        )
    generation_id: str = body["data"]["generateMaya"]["generation"]["id"]
    return generation_id
