"""The LISTEN connection is lost: it reconnects, and followers re-read what they missed."""

from persistence.notifications import LISTENER_APPLICATION_NAME
from tests.integration.api import token_for
from tests.integration.studio import TRAINING_PROGRESS, Studio
from tests.integration.ws import subscribe
from tests.selfies import make_selfies

LISTENERS = "FROM pg_stat_activity WHERE application_name = :name AND datname = current_database()"


async def terminate_listeners(studio: Studio) -> int:
    rows = await studio.rows(
        f"SELECT pg_terminate_backend(pid) {LISTENERS}", name=LISTENER_APPLICATION_NAME
    )
    return len(rows)


async def count_listeners(studio: Studio) -> int:
    rows = await studio.rows(f"SELECT count(*) AS n {LISTENERS}", name=LISTENER_APPLICATION_NAME)
    return int(rows[0]["n"])


async def test_a_follower_keeps_up_when_the_listener_connection_dies(studio: Studio) -> None:
    body = await studio.start_training("alice", make_selfies(10))
    job_id = body["data"]["startTraining"]["trainingJob"]["id"]
    training_id = studio.fake.trainings[-1].id

    async with subscribe(
        studio.origin, token_for("alice"), TRAINING_PROGRESS, {"id": job_id}
    ) as subscription:
        await subscription.next()
        terminated = await terminate_listeners(studio)
        await studio.fake.advance(training_id, 600, total=1000)
        await studio.fake.settle()
        await studio.fake.succeed(training_id)
        updates = await subscription.payloads_until_complete()

    # Without a reconnected listener no update could arrive: the subscription would time out.
    assert terminated == 1
    assert updates[-1]["data"]["trainingProgress"]["status"] == "SUCCEEDED"
    assert await count_listeners(studio) == 1
