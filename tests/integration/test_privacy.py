"""Deleting a generation or an account, and not keeping selfies: the studio served in this
process against the fake Replicate over HTTP, on the real database and task worker."""

import functools
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pgqueuer.executors import DatabaseRetryEntrypointExecutor
from sqlalchemy.ext.asyncio import AsyncEngine

from server import worker
from tests.fake_replicate import FakeReplicate
from tests.integration.api import error_codes, token_for
from tests.integration.studio import Studio, local, open_studio
from tests.selfies import make_selfies
from tests.task_queue import until

DELETE_GENERATION = "mutation($id: ID!) { deleteGeneration(id: $id) { deletedId } }"
DELETE_ACCOUNT_MUTATION = (
    "mutation($confirm: ID!) { deleteAccount(input: {confirm: $confirm}) { deletedId } }"
)
ME = """
{ me {
  id model { id }
  generations { edges { node { id } } }
  trainingJobs { edges { node { id } } }
} }
"""
USER_TABLES = (
    "users",
    "user_models",
    "training_jobs",
    "generations",
    "generated_images",
    "deleted_generations",
)


async def me(studio: Studio, subject: str) -> dict[str, Any]:
    body = await studio.api.graphql(ME, token=token_for(subject))
    found: dict[str, Any] = body["data"]["me"]
    return found


async def delete_generation(studio: Studio, subject: str, generation_id: str) -> dict[str, Any]:
    return await studio.api.graphql(
        DELETE_GENERATION, token=token_for(subject), variables={"id": generation_id}
    )


async def delete_account(studio: Studio, subject: str, confirm: str) -> dict[str, Any]:
    return await studio.api.graphql(
        DELETE_ACCOUNT_MUTATION, token=token_for(subject), variables={"confirm": confirm}
    )


async def table_counts(studio: Studio) -> dict[str, int]:
    return {table: await studio.count(table) for table in USER_TABLES}


async def deletions_finished(studio: Studio) -> None:
    await until(studio.engine, "SELECT id FROM account_deletions", lambda found: not found)


async def stored_files(data_dir: Path) -> list[str]:
    root = data_dir / "images"
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def upstream_deletes(fake: FakeReplicate) -> list[str]:
    return [request.path for request in fake.calls("DELETE", "/v1/")]


# -- deleteGeneration -----------------------------------------------------------------------


async def test_a_finished_generation_is_deleted_with_its_images(
    studio: Studio, data_dir: Path
) -> None:
    await studio.trained("alice")
    kept = await studio.generated("alice", "in a garden")
    deleted = await studio.generated("alice", "on a beach")
    urls = [image["url"] for image in deleted["images"]]
    async with httpx.AsyncClient() as client:
        assert [(await client.get(url)).status_code for url in urls] == [200, 200, 200]

    body = await delete_generation(studio, "alice", deleted["id"])

    assert body["data"]["deleteGeneration"] == {"deletedId": deleted["id"]}
    async with httpx.AsyncClient() as client:
        assert [(await client.get(url)).status_code for url in urls] == [404, 404, 404]
    assert await studio.generation("alice", deleted["id"]) is None
    assert [edge["node"]["id"] for edge in (await me(studio, "alice"))["generations"]["edges"]] == [
        kept["id"]
    ]
    user_id = await studio.user_id("alice")
    await until(
        studio.engine,
        "SELECT id FROM pgqueuer WHERE entrypoint = 'delete_stored_images'",
        lambda queued: not queued,
    )
    stored = await stored_files(data_dir)
    assert stored
    assert all(key.startswith(f"{user_id}/{local(kept['id'])}/") for key in stored)


async def test_a_running_generation_is_refused_and_kept(studio: Studio) -> None:
    await studio.trained("alice")
    started = (await studio.maya("alice", "in a garden"))["data"]["generateMaya"]["generation"]
    before = await table_counts(studio)

    body = await delete_generation(studio, "alice", started["id"])

    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await table_counts(studio) == before
    assert await studio.generation("alice", started["id"]) is not None


async def test_another_users_generation_is_not_found_and_kept(studio: Studio) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "in a garden")
    await me(studio, "mallory")
    before = await table_counts(studio)

    body = await delete_generation(studio, "mallory", generation["id"])

    assert error_codes(body) == ["NOT_FOUND"]
    assert await table_counts(studio) == before
    assert (await studio.generation("alice", generation["id"]))["status"] == "SUCCEEDED"


async def test_a_deleted_generation_still_counts_against_the_daily_allowance(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> None:
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, daily_generation_limit=1
    ) as studio:
        await studio.trained("alice")
        generation = await studio.generated("alice", "in a garden")
        await delete_generation(studio, "alice", generation["id"])

        body = await studio.maya("alice", "on a beach")

    assert error_codes(body) == ["QUOTA_EXCEEDED"]


# -- deleteAccount ---------------------------------------------------------------------------


async def global_user_id(studio: Studio, subject: str) -> str:
    return str((await me(studio, subject))["id"])


@pytest.mark.parametrize("confirm", ["someone-else", "not a global id", ""])
async def test_an_account_is_kept_unless_confirmed_with_its_own_id(
    studio: Studio, confirm: str
) -> None:
    await studio.trained("alice")
    bob = await global_user_id(studio, "bob")
    await archive_deleted(studio)
    before = await table_counts(studio)
    deletes = upstream_deletes(studio.fake)

    body = await delete_account(studio, "alice", bob if confirm == "someone-else" else confirm)

    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await table_counts(studio) == before
    assert await studio.count("account_deletions") == 0
    assert upstream_deletes(studio.fake) == deletes


async def test_a_deleted_account_is_gone_at_once_and_upstream_in_order(
    studio: Studio, data_dir: Path
) -> None:
    await studio.trained("alice")
    await studio.trained("bob")
    alice_generation = await studio.generated("alice", "in a garden")
    bob_generation = await studio.generated("bob", "on a beach")
    alice, alice_id = await global_user_id(studio, "alice"), await studio.user_id("alice")
    model = f"sandrasocial/{alice_id}-selfie-lora"
    versions = [version.id for version in studio.fake.models[model].versions]
    urls = [image["url"] for image in alice_generation["images"]]

    body = await delete_account(studio, "alice", alice)

    assert body["data"]["deleteAccount"] == {"deletedId": alice}
    assert await studio.rows("SELECT id FROM users WHERE id = :u", u=alice_id) == []
    again = await me(studio, "alice")
    assert again["id"] != alice
    assert again["model"] is None
    assert again["generations"]["edges"] == again["trainingJobs"]["edges"] == []
    assert await studio.generation("alice", alice_generation["id"]) is None
    async with httpx.AsyncClient() as client:
        assert [(await client.get(url)).status_code for url in urls] == [404, 404, 404]

    await deletions_finished(studio)
    assert [path for path in upstream_deletes(studio.fake) if "/models/" in path] == [
        *(f"/v1/models/{model}/versions/{version}" for version in versions),
        f"/v1/models/{model}",
    ]
    assert model not in studio.fake.models
    assert not any(key.startswith(f"{alice_id}/") for key in await stored_files(data_dir))
    owners = await studio.rows("SELECT model_count FROM replicate_owners")
    assert owners == [{"model_count": 1}]
    usage = await studio.rows("SELECT kind, count FROM anonymous_usage ORDER BY kind")
    assert usage == [{"kind": "GENERATION", "count": 1}, {"kind": "TRAINING", "count": 1}]
    # Bob keeps everything.
    assert (await studio.generation("bob", bob_generation["id"]))["status"] == "SUCCEEDED"
    async with httpx.AsyncClient() as client:
        for image in bob_generation["images"]:
            assert (await client.get(image["url"])).status_code == 200
    assert await studio.model("bob") is not None


async def test_running_work_is_canceled_before_the_model_is_deleted(studio: Studio) -> None:
    await studio.trained("alice")
    await studio.start_training("alice", make_selfies(10))
    training = studio.fake.trainings[-1].id
    started = (await studio.maya("alice", "in a garden"))["data"]["generateMaya"]["generation"]
    await studio.fake.wait_for(lambda: started and studio.fake.predictions)
    prediction = studio.fake.predictions[-1].id

    await delete_account(studio, "alice", await global_user_id(studio, "alice"))
    await deletions_finished(studio)

    paths = [
        f"{request.method} {request.path}"
        for request in studio.fake.calls("*", "/v1/")
        if request.method in ("POST", "DELETE")
    ]
    cancels = [
        paths.index(f"POST /v1/trainings/{training}/cancel"),
        paths.index(f"POST /v1/predictions/{prediction}/cancel"),
    ]
    first_delete = min(i for i, path in enumerate(paths) if path.startswith("DELETE /v1/models/"))
    assert max(cancels) < first_delete
    files = [path for path in paths if path.startswith("DELETE /v1/files/")]
    assert files, "the running training's archive is deleted"


@pytest.fixture
def quick_deletion_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries after 50 ms, 100 ms ... instead of 1 s, 2 s ..."""
    quick = functools.partial(
        DatabaseRetryEntrypointExecutor,
        max_attempts=1000,
        initial_delay=timedelta(milliseconds=50),
        max_delay=timedelta(milliseconds=400),
    )
    monkeypatch.setattr(worker, "DELETION_RETRIES", quick)


@pytest.mark.usefixtures("quick_deletion_retries")
async def test_a_provider_failing_or_refusing_is_retried_until_the_deletion_is_done(
    database_url: str,
    data_dir: Path,
    engine: AsyncEngine,
    fake_replicate: FakeReplicate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_studio(database_url, data_dir, engine, fake_replicate) as studio:
        await _deletion_through_faults(studio, caplog)


async def _deletion_through_faults(studio: Studio, caplog: pytest.LogCaptureFixture) -> None:
    await studio.trained("alice")
    alice_id = await studio.user_id("alice")
    model = f"sandrasocial/{alice_id}-selfie-lora"
    versions = f"/v1/models/{model}/versions/"
    studio.fake.fail_next("DELETE", versions, 503, times=3)
    studio.fake.fail_next("DELETE", versions, 429, times=2, retry_after=0)
    studio.fake.fail_next("DELETE", versions, 409, times=5)

    with caplog.at_level(logging.WARNING):
        await delete_account(studio, "alice", await global_user_id(studio, "alice"))
        await until(
            studio.engine,
            "SELECT last_error FROM account_deletions",
            lambda found: bool(found) and "409" in str(found[0]["last_error"]),
        )
        await deletions_finished(studio)

    assert model not in studio.fake.models
    refused = [record for record in caplog.records if "refuses to delete version" in record.message]
    assert refused
    assert refused[0].levelno == logging.ERROR
    assert "injected" in refused[0].message  # the provider's reason, for an operator
    assert await studio.rows("SELECT model_count FROM replicate_owners") == [{"model_count": 0}]


# -- selfies are not kept ----------------------------------------------------------------------


async def upload_of(studio: Studio, job_id: str) -> dict[str, Any]:
    rows = await studio.rows(
        "SELECT upload_file_id, images_url FROM training_jobs WHERE id = :j", j=job_id
    )
    return rows[0]


async def archive_deleted(studio: Studio) -> None:
    await until(
        studio.engine,
        "SELECT upload_file_id FROM training_jobs WHERE upload_file_id IS NOT NULL",
        lambda found: not found,
    )


@pytest.mark.parametrize("ending", ["success", "failure", "cancel"])
async def test_the_selfie_archive_is_deleted_upstream_when_the_training_ends(
    studio: Studio, ending: str
) -> None:
    body = await studio.start_training("alice", make_selfies(10))
    job = body["data"]["startTraining"]["trainingJob"]
    file_id = (await upload_of(studio, local(job["id"])))["upload_file_id"]
    assert file_id in studio.fake.files
    training = studio.fake.trainings[-1].id

    if ending == "success":
        await studio.fake.play(training)
    elif ending == "failure":
        await studio.fake.fail(training)
    else:
        await studio.api.graphql(
            "mutation($id: ID!) { cancelTraining(id: $id) { status } }",
            token=token_for("alice"),
            variables={"id": job["id"]},
        )
    await archive_deleted(studio)

    assert f"/v1/files/{file_id}" in upstream_deletes(studio.fake)
    assert file_id not in studio.fake.files


# -- orphans -------------------------------------------------------------------------------------


async def test_orphans_older_than_the_grace_are_removed_and_referenced_ones_kept(
    studio: Studio, data_dir: Path
) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "in a garden")
    kept_files = await stored_files(data_dir)
    orphan = data_dir / "images" / "gone0user" / "00000000-0000-4000-8000-000000000000" / "0.png"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a crash")
    stray = studio.fake.store_file(b"zip", "selfies-lost.zip", "application/zip", {})
    other = studio.fake.store_file(b"zip", "someone-elses.zip", "application/zip", {})

    collected = await studio.runtime.orphans.collect(grace=timedelta(0))

    assert (collected.stored_objects, collected.provider_files) == (1, 1)
    assert await stored_files(data_dir) == kept_files
    assert stray.id not in studio.fake.files
    assert other.id in studio.fake.files
    assert (await studio.generation("alice", generation["id"]))["status"] == "SUCCEEDED"
