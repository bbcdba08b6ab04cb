"""Deleting a generation or a whole account through real server processes and the fake
Replicate over HTTP: what goes upstream and in what order, what is kept (other users'
data), image URLs, signing in again, the training archive, and a worker killed mid-way."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.global_ids import decode_global_id
from settings.config import bucket_location
from tests.e2e.server_process import (
    ServerProcess,
    free_port,
    sselfie_server,
    sselfie_worker,
    studio_env,
)
from tests.fake_replicate import FakeReplicate
from tests.fake_replicate.records import RecordedRequest
from tests.integration.api import Api, error_codes, token_for
from tests.integration.studio import Studio
from tests.s3 import list_keys
from tests.selfies import make_selfies
from tests.task_queue import empty_queue, rows, until

DELETE_ACCOUNT = """
mutation($confirm: ID!) { deleteAccount(input: {confirm: $confirm}) { deletedId } }
"""
DELETE_GENERATION = "mutation($id: ID!) { deleteGeneration(id: $id) { deletedId } }"
CANCEL_TRAINING = "mutation($id: ID!) { cancelTraining(id: $id) { id status } }"
ME = """
{ me {
  id
  model { id }
  generations { edges { node { id } } }
  trainingJobs { edges { node { id } } }
} }
"""
NODE = "query($id: ID!) { node(id: $id) { id } }"
IMAGE_URLS = """
query($id: ID!) { node(id: $id) { ... on Generation { images {
  original: url
  thumbnail: url(size: THUMBNAIL)
  preview: url(size: PREVIEW)
} } } }
"""
# What users own, in the columns no background work changes while nothing moves upstream:
# equal before and after a request, that request changed nothing.
OWNED_ROWS = {
    "users": "SELECT id AS user_id, subject FROM users",
    "user_models": "SELECT id, user_id, status, replicate_model_id, replicate_version_id"
    " FROM user_models",
    "training_jobs": "SELECT id, user_id, status, upload_file_id FROM training_jobs",
    "generations": "SELECT id, user_id, status FROM generations",
    "generated_images": "SELECT id, user_id, generation_id, storage_key, renditions"
    " FROM generated_images",
}
MODEL_SLOTS = "SELECT owner, model_count FROM replicate_owners ORDER BY owner"
# Ended trainings whose archive is still upstream, and deletions of archives still queued.
UPLOADS_LEFT = (
    "SELECT id::text FROM training_jobs WHERE upload_file_id IS NOT NULL"
    " AND completed_at IS NOT NULL"
    " UNION ALL SELECT id::text FROM pgqueuer WHERE entrypoint = 'delete_training_upload'"
)
ACCOUNT_DELETIONS_LEFT = (
    "SELECT id::text, steps_done, last_error FROM account_deletions"
    " UNION ALL SELECT id::text, NULL, NULL FROM pgqueuer WHERE entrypoint = 'delete_account'"
)
IMAGE_DELETIONS_LEFT = "SELECT id FROM pgqueuer WHERE entrypoint = 'delete_stored_images'"
WAIT_SECONDS = 30


@pytest.fixture
async def queue(engine: AsyncEngine) -> AsyncEngine:
    """The test's engine, with a task queue of its own: what earlier tests queued is gone."""
    await empty_queue(engine)
    return engine


@contextmanager
def studio_server(
    database_url: str, data_dir: Path, fake: FakeReplicate, *, worker: bool = True
) -> Iterator[ServerProcess]:
    """A real `sselfie serve` (with its worker, unless told), whose tasks' owners are
    declared dead after a second without a heartbeat."""
    port = free_port()
    public_base_url = f"http://127.0.0.1:{port}"
    env = studio_env(database_url, data_dir, fake, public_base_url, TASK_HEARTBEAT_SECONDS="1")
    with sselfie_server(env, port=port, worker=worker) as server:
        yield server


@asynccontextmanager
async def studio_of(
    server: ServerProcess, fake: FakeReplicate, engine: AsyncEngine
) -> AsyncIterator[Studio]:
    """What the integration tests drive, here through a real server's HTTP port."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield Studio(Api(client), server.base_url, fake, engine)


# Looking at the server and the fake from outside


def local_id(global_id: str) -> str:
    decoded = decode_global_id(global_id)
    assert decoded is not None, global_id
    return decoded[1]


def stored_keys(env: dict[str, str], prefix: str) -> list[str]:
    """The keys stored under `prefix` by a server started with `env`: files under its
    data directory, or objects in its bucket."""
    if "STORAGE_URL" not in env:
        images = Path(env["SSELFIE_DATA_DIR"]) / "images"
        found = (images / prefix).rglob("*") if (images / prefix).is_dir() else []
        return sorted(str(path.relative_to(images)) for path in found if path.is_file())
    bucket = bucket_location(env["STORAGE_URL"])
    root = f"{bucket.prefix}/" if bucket.prefix else ""
    keys = list_keys(env["AWS_ENDPOINT_URL"], bucket.bucket, root + prefix)
    return [key.removeprefix(root) for key in keys]


async def me(studio: Studio, subject: str) -> dict[str, Any]:
    body = await studio.api.graphql(ME, token=token_for(subject))
    found: dict[str, Any] = body["data"]["me"]
    return found


async def node(studio: Studio, subject: str, global_id: str) -> dict[str, Any]:
    """The whole answer (data and errors) to `node(id)`."""
    return await studio.api.graphql(NODE, token=token_for(subject), variables={"id": global_id})


async def delete_account(studio: Studio, subject: str, confirm: str) -> dict[str, Any]:
    return await studio.api.graphql(
        DELETE_ACCOUNT, token=token_for(subject), variables={"confirm": confirm}
    )


async def delete_generation(studio: Studio, subject: str, generation_id: str) -> dict[str, Any]:
    return await studio.api.graphql(
        DELETE_GENERATION, token=token_for(subject), variables={"id": generation_id}
    )


async def image_urls(studio: Studio, subject: str, generation_id: str) -> list[str]:
    """Every image of the generation, in every size."""
    body = await studio.api.graphql(
        IMAGE_URLS, token=token_for(subject), variables={"id": generation_id}
    )
    images = body["data"]["node"]["images"]
    assert images, body
    return [image[size] for image in images for size in ("original", "thumbnail", "preview")]


async def fetched(urls: list[str]) -> list[int]:
    """The status a browser on another origin ends with for each URL (redirects followed,
    into the bucket in S3 mode)."""
    async with httpx.AsyncClient(timeout=30) as browser:
        return [(await browser.get(url, follow_redirects=True)).status_code for url in urls]


async def owned_rows(engine: AsyncEngine, user_id: str | None = None) -> dict[str, list[str]]:
    """OWNED_ROWS (of one user, given one), each row as a string, sorted."""
    found = {}
    for table, sql in OWNED_ROWS.items():
        table_rows = await rows(engine, sql)
        found[table] = sorted(
            repr(sorted(row.items()))
            for row in table_rows
            if user_id is None or row["user_id"] == user_id
        )
    return found


async def wait_until_none_left(engine: AsyncEngine, sql: str) -> None:
    """Until the query finds no row, asked again at every change of the task queue."""
    await until(engine, sql, lambda left: not left, WAIT_SECONDS)


def file_id_of(training_input: dict[str, Any]) -> str:
    """The id of the uploaded selfie archive a training was started with."""
    return str(training_input["input_images"]).rstrip("/").rsplit("/", 1)[-1]


async def file_status(fake: FakeReplicate, file_id: str) -> int:
    """What `GET /v1/files/{id}` answers now."""
    async with httpx.AsyncClient(base_url=fake.base_url, timeout=10) as client:
        response = await client.get(
            f"/files/{file_id}", headers={"Authorization": f"Bearer {fake.token}"}
        )
    return response.status_code


def ok(request: RecordedRequest) -> bool:
    return request.status is not None and 200 <= request.status < 300


def positions(requests: list[RecordedRequest], method: str, *paths: str) -> list[int]:
    """Where requests of `method` to one of `paths` (exactly) were answered 2xx."""
    return [
        index
        for index, request in enumerate(requests)
        if request.method.upper() == method and request.path in paths and ok(request)
    ]


def answers(requests: list[RecordedRequest], method: str, path: str) -> list[int | None]:
    """The statuses the fake answered to `method path` (exactly that path), in order."""
    return [r.status for r in requests if r.method.upper() == method and r.path == path]


def archive_deleted(fake: FakeReplicate, file_id: str) -> bool:
    return any(ok(request) for request in fake.calls("DELETE", f"/files/{file_id}"))


# The people of these tests


@dataclass(frozen=True)
class Account:
    subject: str
    global_id: str
    model: str  # "owner/name" upstream
    versions: list[str]
    file_ids: list[str]  # every archive they uploaded
    generation_id: str  # a generation that succeeded

    @property
    def user_id(self) -> str:
        return local_id(self.global_id)

    def version_paths(self) -> list[str]:
        return [f"/v1/models/{self.model}/versions/{version}" for version in self.versions]

    def file_paths(self) -> list[str]:
        return [f"/v1/files/{file_id}" for file_id in self.file_ids]


async def account(studio: Studio, subject: str, versions: list[str], generation_id: str) -> Account:
    model = studio.fake.trainings[-1].destination
    assert model is not None
    return Account(
        subject=subject,
        global_id=(await me(studio, subject))["id"],
        model=model,
        versions=versions,
        file_ids=[
            file_id_of(training.input)
            for training in studio.fake.trainings
            if training.destination == model
        ],
        generation_id=generation_id,
    )


# deleteGeneration


async def test_a_deleted_generation_answers_404_and_its_stored_images_go(
    database_url: str, tmp_path: Path, fake: FakeReplicate, queue: AsyncEngine
) -> None:
    with studio_server(database_url, tmp_path, fake) as server:
        async with studio_of(server, fake, queue) as studio:
            await studio.trained("alice")
            kept = (await studio.generated("alice", "in paris"))["id"]
            gone = (await studio.generated("alice", "in rome"))["id"]
            running = (await studio.maya("alice", "still running"))["data"]["generateMaya"][
                "generation"
            ]["id"]
            alice = local_id((await me(studio, "alice"))["id"])
            gone_prefix, kept_prefix = f"{alice}/{local_id(gone)}/", f"{alice}/{local_id(kept)}/"
            gone_urls = await image_urls(studio, "alice", gone)
            kept_urls = await image_urls(studio, "alice", kept)
            before = (await fetched(gone_urls), stored_keys(server.env, gone_prefix))
            kept_keys = stored_keys(server.env, kept_prefix)

            by_someone_else = await delete_generation(studio, "bob", gone)
            while_running = await delete_generation(studio, "alice", running)
            deleted = await delete_generation(studio, "alice", gone)
            right_after = await fetched(gone_urls)
            gone_node = await node(studio, "alice", gone)
            await wait_until_none_left(queue, IMAGE_DELETIONS_LEFT)
            gone_keys_after = stored_keys(server.env, gone_prefix)
            kept_after = (
                await fetched(kept_urls),
                stored_keys(server.env, kept_prefix),
                await node(studio, "alice", kept),
            )

    assert before[0] == [200] * 9
    assert [key.endswith(".webp") for key in before[1]].count(True) == 6  # its renditions
    assert error_codes(by_someone_else) == ["NOT_FOUND"]
    assert error_codes(while_running) == ["BAD_USER_INPUT"]
    assert deleted["data"]["deleteGeneration"] == {"deletedId": gone}
    assert right_after == [404] * 9
    assert gone_node["data"]["node"] is None
    assert gone_keys_after == []
    assert kept_after[0] == [200] * 9
    assert kept_after[1] == kept_keys
    assert kept_after[2]["data"]["node"] == {"id": kept}


# deleteAccount


async def test_deleting_an_account_cancels_work_then_deletes_versions_model_and_files_in_order(
    database_url: str, tmp_path: Path, fake: FakeReplicate, queue: AsyncEngine
) -> None:
    with studio_server(database_url, tmp_path, fake) as server:
        async with studio_of(server, fake, queue) as studio:
            bob, bob_training = await bob_with_a_model_and_a_training_running(studio)
            alice_versions = [await studio.trained("alice")]
            kept = (await studio.generated("alice", "in paris"))["id"]
            alice_versions.append(await studio.trained("alice"))
            await studio.start_training("alice", make_selfies(10))
            running_training = fake.trainings[-1].id
            running_file = file_id_of(fake.trainings[-1].input)
            await studio.maya("alice", "still running")
            running_prediction = fake.predictions[-1].id
            alice = await account(studio, "alice", alice_versions, kept)
            await wait_until_none_left(queue, UPLOADS_LEFT)

            await refusals_change_nothing(studio, alice, bob)

            bob_before = await what_bob_has(studio, server, bob)
            slots_before = await rows(queue, MODEL_SLOTS)
            kept_urls = await image_urls(studio, "alice", kept)
            alice_keys_before = stored_keys(server.env, f"{alice.user_id}/")
            mark = len(fake.requests)
            deleted = await delete_account(studio, "alice", alice.global_id)
            urls_right_after = await fetched(kept_urls)
            old_generation = await node(studio, "alice", kept)
            new_alice = await me(studio, "alice")
            await wait_until_none_left(queue, ACCOUNT_DELETIONS_LEFT)
            upstream = fake.requests[mark:]
            alice_after = await owned_rows(queue, alice.user_id)
            alice_keys_after = stored_keys(server.env, f"{alice.user_id}/")
            slots_after = await rows(queue, MODEL_SLOTS)
            bob_after = await what_bob_has(studio, server, bob)
            bob_generates = await studio.generated("bob", "after alice left")

    assert deleted["data"]["deleteAccount"] == {"deletedId": alice.global_id}
    # Unreachable from the answer on: image URLs, the old node, the old account.
    assert urls_right_after == [404] * 9
    assert old_generation["data"]["node"] is None
    assert new_alice["id"] != alice.global_id
    assert new_alice["model"] is None
    assert new_alice["generations"]["edges"] == []
    assert new_alice["trainingJobs"]["edges"] == []
    # Upstream, in order: cancels, every version, the model (never refused), the archives.
    cancels = positions(
        upstream,
        "POST",
        f"/v1/trainings/{running_training}/cancel",
        f"/v1/predictions/{running_prediction}/cancel",
    )
    versions = positions(upstream, "DELETE", *alice.version_paths())
    model = positions(upstream, "DELETE", f"/v1/models/{alice.model}")
    files = positions(upstream, "DELETE", *alice.file_paths())
    assert len(cancels) == 2
    assert sorted(upstream[i].path for i in versions) == sorted(alice.version_paths())
    assert answers(upstream, "DELETE", f"/v1/models/{alice.model}") == [204]
    assert [upstream[i].path for i in files] == [f"/v1/files/{running_file}"]
    assert max(cancels) < min(versions)
    assert max(versions) < min(model)
    assert max(model) < min(files)
    assert alice.model not in fake.models
    assert not set(alice.versions) & set(fake.versions)
    assert [await file_status(fake, file_id) for file_id in alice.file_ids] == [404] * 3
    # Nothing of alice's is kept here either; her model's slot is free again.
    assert alice_keys_before != []
    assert alice_keys_after == []
    assert all(table == [] for table in alice_after.values()), alice_after
    assert slots_before == [{"owner": "sandrasocial", "model_count": 2}]
    assert slots_after == [{"owner": "sandrasocial", "model_count": 1}]
    # bob keeps everything, upstream and here, and still generates.
    assert bob_after == bob_before
    assert not [r for r in upstream if bob.model in r.path or bob_training in r.path]
    assert not [r for r in upstream if r.method == "DELETE" and r.path in bob.file_paths()]
    assert bob_generates["status"] == "SUCCEEDED"
    assert len(bob_generates["images"]) == 3


async def bob_with_a_model_and_a_training_running(studio: Studio) -> tuple[Account, str]:
    """bob trained, generated, and is training again (his archive is upstream): his
    account, and that running training's id upstream."""
    version = await studio.trained("bob")
    generation = await studio.generated("bob", "on a boat")
    await studio.start_training("bob", make_selfies(10))
    return await account(studio, "bob", [version], generation["id"]), studio.fake.trainings[-1].id


async def what_bob_has(studio: Studio, server: ServerProcess, bob: Account) -> dict[str, Any]:
    """bob's rows, stored images, image URLs' answers, and model, versions and archives
    upstream."""
    fake = studio.fake
    upstream_model = fake.models.get(bob.model)
    return {
        "rows": await owned_rows(studio.engine, bob.user_id),
        "stored": stored_keys(server.env, f"{bob.user_id}/"),
        "images": await fetched(await image_urls(studio, "bob", bob.generation_id)),
        "versions": [v.id for v in upstream_model.versions] if upstream_model else None,
        "files": [await file_status(fake, file_id) for file_id in bob.file_ids],
    }


async def refusals_change_nothing(studio: Studio, alice: Account, bob: Account) -> None:
    """deleteAccount confirmed with anything but alice's own id: BAD_USER_INPUT, not a row
    changed, nothing queued, nothing sent upstream."""
    rows_before = await owned_rows(studio.engine)
    slots_before = await rows(studio.engine, MODEL_SLOTS)
    mark = len(studio.fake.requests)

    refused = [
        await delete_account(studio, "alice", confirm)
        for confirm in (bob.global_id, alice.generation_id, "not-an-id", "")
    ]

    assert [(body["data"], error_codes(body)) for body in refused] == [
        (None, ["BAD_USER_INPUT"])
    ] * 4
    assert await owned_rows(studio.engine) == rows_before
    assert await rows(studio.engine, MODEL_SLOTS) == slots_before
    assert await rows(studio.engine, ACCOUNT_DELETIONS_LEFT) == []
    assert [r.path for r in studio.fake.requests[mark:] if r.method.upper() == "DELETE"] == []
    assert (await me(studio, "alice"))["id"] == alice.global_id


# The training archive


async def test_the_training_archive_is_deleted_upstream_after_failure_cancel_and_success(
    database_url: str, tmp_path: Path, fake: FakeReplicate, queue: AsyncEngine
) -> None:
    with studio_server(database_url, tmp_path, fake) as server:
        async with studio_of(server, fake, queue) as studio:
            await studio.start_training("carol", make_selfies(10))
            failed = fake.trainings[-1]
            await fake.fail(failed.id)
            await fake.settle()
            await fake.wait_for(lambda: archive_deleted(fake, file_id_of(failed.input)))

            body = await studio.start_training("carol", make_selfies(10))
            canceled = fake.trainings[-1]
            job_id = body["data"]["startTraining"]["trainingJob"]["id"]
            cancel = await studio.api.graphql(
                CANCEL_TRAINING, token=token_for("carol"), variables={"id": job_id}
            )
            await fake.wait_for(lambda: archive_deleted(fake, file_id_of(canceled.input)))

            await studio.trained("carol")
            succeeded = fake.trainings[-1]
            await fake.wait_for(lambda: archive_deleted(fake, file_id_of(succeeded.input)))
            await wait_until_none_left(queue, UPLOADS_LEFT)
            kept_ids = await rows(queue, "SELECT upload_file_id FROM training_jobs")

    assert cancel["data"]["cancelTraining"]["status"] == "CANCELED"
    assert [failed.status, canceled.status, succeeded.status] == [
        "failed",
        "canceled",
        "succeeded",
    ]
    for training in (failed, canceled, succeeded):
        file_id = file_id_of(training.input)
        assert answers(fake.requests, "DELETE", f"/v1/files/{file_id}") == [204]
        assert await file_status(fake, file_id) == 404
    assert kept_ids == [{"upload_file_id": None}] * 3


# A worker killed mid-way


async def test_a_deletion_finishes_exactly_once_after_its_worker_is_killed_mid_delete(
    database_url: str, tmp_path: Path, fake: FakeReplicate, queue: AsyncEngine
) -> None:
    with studio_server(database_url, tmp_path, fake, worker=False) as web:
        async with studio_of(web, fake, queue) as studio:
            with sselfie_worker(web.env):  # deletes the archives of the trainings
                alice_versions = [await studio.trained("alice"), await studio.trained("alice")]
                generation = await studio.generated("alice", "in paris")
                alice = await account(studio, "alice", alice_versions, generation["id"])
                await studio.start_training("bob", make_selfies(10))  # a model slot for bob
                await wait_until_none_left(queue, UPLOADS_LEFT)
            slots_before = await rows(queue, MODEL_SLOTS)

            await delete_account(studio, "alice", alice.global_id)
            without_a_worker = (
                await rows(queue, "SELECT steps_done FROM account_deletions"),
                await rows(
                    queue, "SELECT status FROM pgqueuer WHERE entrypoint = 'delete_account'"
                ),
            )
            fake.hold_deletes()
            with sselfie_worker(web.env) as first:
                held = await fake.wait_for(lambda: fake.calls("DELETE", "/models/"))
                first.kill()  # while the provider has not answered its first version DELETE
            fake.release_deletes()
            await fake.wait_for(lambda: held[0].status is not None)
            with sselfie_worker(web.env):
                await wait_until_none_left(queue, ACCOUNT_DELETIONS_LEFT)
            slots_after = await rows(queue, MODEL_SLOTS)
            stored_after = stored_keys(web.env, f"{alice.user_id}/")

    assert without_a_worker == ([{"steps_done": []}], [{"status": "queued"}])
    # The held DELETE was carried out once released, its answer going to a dead worker.
    assert held[0].path in alice.version_paths()
    assert held[0].status == 204
    for path in alice.version_paths():
        assert [status for status in answers(fake.requests, "DELETE", path) if status != 404] == [
            204
        ], path
    assert answers(fake.requests, "DELETE", f"/v1/models/{alice.model}") == [204]
    assert alice.model not in fake.models
    assert slots_before == [{"owner": "sandrasocial", "model_count": 2}]
    assert slots_after == [{"owner": "sandrasocial", "model_count": 1}]
    assert stored_after == []
