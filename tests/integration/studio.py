"""The studio served on loopback, wired to a fake Replicate: what training tests drive."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schema.node import decode_global_id
from server.app import create_app
from tests.fake_replicate import FakeReplicate
from tests.integration.api import Api, token_for
from tests.integration.harness import make_settings
from tests.integration.served import free_port, serve

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
TRAINING_PROGRESS = """
subscription($id: ID) { trainingProgress(trainingJobId: $id) { id status progress error } }
"""


@dataclass
class Studio:
    api: Api
    origin: str
    fake: FakeReplicate
    engine: AsyncEngine

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

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            result = await connection.execute(text(sql), params)
            return [dict(row._mapping) for row in result]

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
        make_settings(database_url, data_dir, **values), database_url, migrate_on_start=False
    )
    async with serve(app, port), httpx.AsyncClient(base_url=origin, timeout=30) as client:
        yield Studio(Api(client), origin, fake, engine)
