"""Training through real server processes and the fake Replicate: crashes and replicas."""

from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.journeys import start_training
from tests.e2e.server_process import free_port, sselfie_server, stored_originals, studio_env
from tests.fake_replicate import FakeReplicate
from tests.integration.api import Api, token_for
from tests.integration.studio import (
    GENERATE_MAYA,
    GENERATION_UPDATED,
    TRAINING_PROGRESS,
)
from tests.integration.ws import subscribe


async def test_a_training_survives_its_server_being_killed(
    database_url: str, tmp_path: Path, fake: FakeReplicate, engine: AsyncEngine
) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = studio_env(database_url, tmp_path, fake, origin, WEBHOOK_SILENCE_SECONDS="1")

    with sselfie_server(env, port=port) as server:
        job_id = await start_training(server.base_url)
        training_id = fake.trainings[-1].id
        await fake.start_processing(training_id)
        await fake.settle()
        server.kill()

    # While no server runs, the training finishes and its webhooks find no one.
    await fake.advance(training_id, 800, total=1000)
    await fake.succeed(training_id)
    await fake.settle()
    assert all(delivery.status_code is None for delivery in fake.deliveries[-2:])

    with sselfie_server(env, port=port) as restarted:
        async with subscribe(
            restarted.base_url, token_for("alice"), TRAINING_PROGRESS, {"id": job_id}
        ) as subscription:
            updates = await subscription.payloads_until_complete()

    assert updates[-1]["data"]["trainingProgress"]["status"] == "SUCCEEDED"
    assert updates[-1]["data"]["trainingProgress"]["progress"] == 1.0


async def test_a_subscriber_on_one_replica_sees_webhooks_sent_to_another(
    database_url: str, tmp_path: Path, fake: FakeReplicate, engine: AsyncEngine
) -> None:
    port_a, port_b = free_port(), free_port()
    origin_b = f"http://127.0.0.1:{port_b}"
    # Both replicas hand Replicate replica B's address, as a load balancer might route it.
    env = studio_env(database_url, tmp_path, fake, origin_b, WEBHOOK_SILENCE_SECONDS="600")

    with sselfie_server(env, port=port_a) as replica_a, sselfie_server(env, port=port_b):
        job_id = await start_training(replica_a.base_url)
        training_id = fake.trainings[-1].id
        async with subscribe(
            replica_a.base_url, token_for("alice"), TRAINING_PROGRESS, {"id": job_id}
        ) as subscription:
            first = await subscription.next()
            await fake.start_processing(training_id)
            await fake.advance(training_id, 500, total=1000)
            await fake.succeed(training_id)
            updates = await subscription.payloads_until_complete()

    assert first["payload"]["data"]["trainingProgress"]["status"] == "STARTING"
    statuses = [update["data"]["trainingProgress"]["status"] for update in updates]
    progresses = [update["data"]["trainingProgress"]["progress"] for update in updates]
    assert statuses[-1] == "SUCCEEDED"
    assert 0.5 in progresses
    assert progresses == sorted(progresses)
    assert {delivery.url.split("/webhooks")[0] for delivery in fake.deliveries} == {origin_b}
    assert all(delivery.status_code == 200 for delivery in fake.deliveries)


async def test_a_real_server_trains_then_generates_and_keeps_the_images(
    database_url: str, tmp_path: Path, fake: FakeReplicate, engine: AsyncEngine
) -> None:
    port = free_port()
    env = studio_env(database_url, tmp_path, fake, f"http://127.0.0.1:{port}")

    with sselfie_server(env, port=port) as server:
        await start_training(server.base_url)
        await fake.play(fake.trainings[-1].id)
        await fake.settle()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            api = Api(client)
            body = await api.graphql(
                GENERATE_MAYA, token=token_for("alice"), variables={"prompt": "on a boat"}
            )
            generation_id = body["data"]["generateMaya"]["generation"]["id"]
            async with subscribe(
                server.base_url, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
            ) as subscription:
                await subscription.next()
                await fake.succeed_prediction(fake.predictions[-1].id)
                final = await subscription.payloads_until_complete()
            await fake.expire_outputs(fake.predictions[-1].id)
            images = final[-1]["data"]["generationUpdated"]["images"]
            fetched = [await client.get(image["url"], follow_redirects=True) for image in images]

    assert final[-1]["data"]["generationUpdated"]["status"] == "SUCCEEDED"
    assert [response.status_code for response in fetched] == [200, 200, 200]
    assert all(response.content.startswith(b"\x89PNG") for response in fetched)
    assert len(stored_originals(env, generation_id)) == 3
