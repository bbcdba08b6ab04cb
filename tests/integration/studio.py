"""The studio served on loopback, wired to a fake Replicate: what training tests drive."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from domain.webhook_links import KEY_NAME, WebhookKind, WebhookLinks
from persistence.secrets import shared_secret
from persistence.task_queue import make_renditions_key
from resolvers.global_ids import decode_global_id
from server.app import create_app
from server.runtime import Runtime
from server.tracing import Tracing
from tests.fake_replicate import FakeReplicate
from tests.integration.api import Api, token_for
from tests.integration.harness import make_settings
from tests.integration.served import free_port, serve
from tests.integration.ws import subscribe
from tests.selfies import make_selfies
from tests.task_queue import until

START_TRAINING = """
mutation($input: StartTrainingInput!) {
  startTraining(input: $input) {
    trainingJob { id status progress imageCount replicateTrainingId error }
    model { id status replicateModelId replicateVersionId triggerWord }
  }
}
"""
JOB = """
query($id: ID!) {
  node(id: $id) {
    ... on TrainingJob { id status progress replicateTrainingId error startedAt completedAt }
  }
}
"""
MODEL = """
{ me { model {
  status replicateModelId replicateVersionId trainedAt activeTraining { id status }
} } }
"""
GENERATION_FIELDS = """
  id source prompt status error createdAt completedAt
  style { id name category }
  parameters {
    guidance numInferenceSteps loraScale numOutputs aspectRatio outputFormat
    outputQuality goFast disableSafetyChecker seed
  }
  images { id url contentType width height selected }
"""
GENERATE_MAYA = (
    "mutation($prompt: String!) { generateMaya(input: {prompt: $prompt}) { generation {"
    + GENERATION_FIELDS
    + "} } }"
)
GENERATE_PHOTOSHOOT = (
    "mutation($style: ID!, $details: String) {"
    " generatePhotoshoot(input: {styleId: $style, details: $details}) { generation {"
    + GENERATION_FIELDS
    + "} } }"
)
GENERATION = "query($id: ID!) { node(id: $id) { ... on Generation {" + GENERATION_FIELDS + "} } }"
GENERATION_UPDATED = (
    "subscription($id: ID!) { generationUpdated(generationId: $id) {" + GENERATION_FIELDS + "} }"
)
TRAINING_PROGRESS = """
subscription($id: ID) { trainingProgress(trainingJobId: $id) { id status progress error } }
"""


@dataclass
class Studio:
    api: Api
    origin: str
    fake: FakeReplicate
    engine: AsyncEngine
    app: Starlette | None = None

    @property
    def runtime(self) -> Runtime:
        """The served app's runtime (the server runs in this process)."""
        assert self.app is not None
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def start_training(self, subject: str, images: list[bytes]) -> dict[str, Any]:
        files = [(f"selfie-{i}.jpg", content) for i, content in enumerate(images)]
        return await self.api.upload(START_TRAINING, files, token=token_for(subject))

    async def job(self, subject: str, job_id: str) -> dict[str, Any]:
        body = await self.api.graphql(JOB, token=token_for(subject), variables={"id": job_id})
        node: dict[str, Any] = body["data"]["node"]
        return node

    async def model(self, subject: str) -> dict[str, Any] | None:
        body = await self.api.graphql(MODEL, token=token_for(subject))
        model: dict[str, Any] | None = body["data"]["me"]["model"]
        return model

    async def trained(self, subject: str) -> str:
        """Trains the subject's own model through the fake; its version id."""
        await self.start_training(subject, make_selfies(10))
        version: str = await self.fake.play(self.fake.trainings[-1].id)
        await self.fake.settle()
        model = await self.model(subject)
        assert model is not None
        assert model["status"] == "READY"
        return version

    async def maya(self, subject: str, prompt: str) -> dict[str, Any]:
        return await self.api.graphql(
            GENERATE_MAYA, token=token_for(subject), variables={"prompt": prompt}
        )

    async def photoshoot(
        self, subject: str, style: str, details: str | None = None
    ) -> dict[str, Any]:
        return await self.api.graphql(
            GENERATE_PHOTOSHOOT,
            token=token_for(subject),
            variables={"style": style, "details": details},
        )

    async def follow_until_done(
        self, subject: str, generation_id: str, *, succeed: bool = True
    ) -> dict[str, Any]:
        """Follows the generation (succeeding its prediction at the fake) to its end."""
        async with subscribe(
            self.origin, token_for(subject), GENERATION_UPDATED, {"id": generation_id}
        ) as subscription:
            await subscription.next()
            if succeed:
                await self.fake.succeed_prediction(self.fake.predictions[-1].id)
            final = await subscription.payloads_until_complete()
        generation: dict[str, Any] = final[-1]["data"]["generationUpdated"]
        return generation

    async def generated(self, subject: str, prompt: str) -> dict[str, Any]:
        """A Maya generation run to SUCCEEDED, as the subscription last showed it, once its
        queued renditions task ended (no background work of it left to run meanwhile)."""
        body = await self.maya(subject, prompt)
        generation = await self.follow_until_done(
            subject, body["data"]["generateMaya"]["generation"]["id"]
        )
        await self.renditions_task_ended(generation["id"])
        return generation

    async def renditions_task_ended(self, generation_id: str) -> None:
        """Waits until the generation's `make_renditions` task is no longer queued or running."""
        key = make_renditions_key(local(generation_id))
        await until(
            self.engine,
            # Test SQL on our own constant and a UUID.
            f"SELECT id FROM pgqueuer WHERE dedupe_key = '{key}'",  # noqa: S608
            lambda queued: not queued,
        )

    async def generation(self, subject: str, generation_id: str) -> dict[str, Any]:
        body = await self.api.graphql(
            GENERATION, token=token_for(subject), variables={"id": generation_id}
        )
        node: dict[str, Any] = body["data"]["node"]
        return node

    async def user_id(self, subject: str) -> str:
        rows = await self.rows("SELECT id FROM users WHERE subject = :s", s=subject)
        return str(rows[0]["id"])

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            result = await connection.execute(text(sql), params)
            return [dict(row._mapping) for row in result]

    async def webhook_url(self, kind: WebhookKind, local_id: str) -> str:
        """The webhook URL (with its token) the studio gives Replicate for this job."""
        links = WebhookLinks(
            f"{self.origin}/webhooks/replicate", await shared_secret(self.engine, KEY_NAME)
        )
        url = links.url_for(kind, local_id)
        assert url is not None
        return url

    async def count(self, table: str) -> int:
        rows = await self.rows(f"SELECT count(*) AS n FROM {table}")  # noqa: S608 (test SQL)
        return int(rows[0]["n"])


def local(global_id: str) -> str:
    decoded = decode_global_id(global_id)
    assert decoded is not None
    return decoded[1]


@asynccontextmanager
async def open_studio(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake: FakeReplicate, **settings: Any
) -> AsyncIterator[Studio]:
    """`settings` override the studio's; `run_worker=False` serves without a task worker,
    `tracing=Tracing(...)` traces it."""
    run_worker = bool(settings.pop("run_worker", True))
    tracing: Tracing | None = settings.pop("tracing", None)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    values: dict[str, Any] = {
        "replicate_api_token": fake.token,
        "replicate_api_base_url": fake.base_url,
        "public_base_url": origin,
        "reconcile_interval_seconds": 0.1,
        "webhook_silence_seconds": 60,
        **settings,
    }
    app = create_app(
        make_settings(database_url, data_dir, **values),
        database_url,
        migrate_on_start=False,
        run_worker=run_worker,
        tracing=tracing,
    )
    async with serve(app, port), httpx.AsyncClient(base_url=origin, timeout=30) as client:
        yield Studio(Api(client), origin, fake, engine, app)
