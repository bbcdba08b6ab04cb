"""What keeps a client's normalized cache true: `nodes`, links back from images and
trainings, and absolute image URLs."""

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.global_ids import encode_global_id
from resolvers.node import MAX_NODES
from tests.integration.api import Api, error_codes, token_for
from tests.integration.studio import Studio
from tests.integration.test_pagination import counted_statements, seed_generations
from tests.integration.ws import subscribe
from tests.selfies import make_selfies

NODES = """
query($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename id
    ... on GeneratedImage { selected }
    ... on Generation { status images { id } }
  }
}
"""
SELECT = """
mutation($id: ID!) {
  selectImage(id: $id) { id selected generation { id images { id selected } } }
}
"""
PROGRESS_WITH_MODEL = """
subscription($id: ID) {
  trainingProgress(trainingJobId: $id) {
    id status model { id status replicateVersionId }
  }
}
"""


async def nodes(studio: Studio, subject: str, ids: list[str]) -> dict[str, Any]:
    return await studio.api.graphql(NODES, token=token_for(subject), variables={"ids": ids})


async def test_nodes_answers_in_the_order_asked_with_null_for_what_is_not_yours(
    studio: Studio,
) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "in a garden")
    model = await studio.model("alice")
    assert model is not None
    bob_job = (await studio.start_training("bob", make_selfies(10)))["data"]["startTraining"]
    image_ids = [image["id"] for image in generation["images"]]
    ids = [
        image_ids[2],
        bob_job["trainingJob"]["id"],
        generation["id"],
        bob_job["model"]["id"],
        image_ids[0],
        encode_global_id("Generation", "00000000-0000-0000-0000-000000000000"),
        image_ids[2],
    ]

    body = await nodes(studio, "alice", ids)

    found = body["data"]["nodes"]
    assert [node and node["id"] for node in found] == [
        image_ids[2],
        None,
        generation["id"],
        None,
        image_ids[0],
        None,
        image_ids[2],
    ]
    assert found[2]["images"] == [{"id": image_id} for image_id in image_ids]
    assert [node and node["__typename"] for node in found][:3] == [
        "GeneratedImage",
        None,
        "Generation",
    ]


async def test_nodes_reads_each_type_in_one_batch(studio: Studio) -> None:
    await studio.trained("alice")
    first = await studio.generated("alice", "first")
    second = await studio.generated("alice", "second")
    few = [first["id"], first["images"][0]["id"]]
    many = [
        first["id"],
        second["id"],
        *(image["id"] for image in first["images"] + second["images"]),
    ]
    await nodes(studio, "alice", few)  # the first request provisions the user

    with counted_statements() as for_few:
        await nodes(studio, "alice", few)
    with counted_statements() as for_many:
        body = await nodes(studio, "alice", many)

    assert all(node is not None for node in body["data"]["nodes"])
    # Generations, their images, images by id: never a statement per id.
    assert 0 < len(for_many) == len(for_few) <= 3


@pytest.mark.parametrize(
    "ids",
    [
        [encode_global_id("User", "x")] * (MAX_NODES + 1),
        ["not-an-id"],
        [encode_global_id("Spaceship", "1")],
        [encode_global_id("Generation", "not-a-uuid")],
    ],
    ids=["too-many", "garbage", "unknown-type", "bad-local-id"],
)
async def test_nodes_refuses_too_many_or_malformed_ids_before_reading(
    studio: Studio, ids: list[str]
) -> None:
    await studio.api.graphql("{ me { id } }", token=token_for("alice"))
    mixed = [encode_global_id("Generation", "00000000-0000-0000-0000-000000000000"), *ids]

    with counted_statements() as statements:
        body = await nodes(studio, "alice", mixed)

    assert body["data"] is None
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert statements == []


async def test_selecting_an_image_answers_its_siblings_so_one_reads_selected(
    studio: Studio,
) -> None:
    await studio.trained("alice")
    images = (await studio.generated("alice", "at the beach"))["images"]

    first = await studio.api.graphql(
        SELECT, token=token_for("alice"), variables={"id": images[0]["id"]}
    )
    second = await studio.api.graphql(
        SELECT, token=token_for("alice"), variables={"id": images[1]["id"]}
    )

    for body, picked in ((first, images[0]["id"]), (second, images[1]["id"])):
        siblings = body["data"]["selectImage"]["generation"]["images"]
        assert [image["id"] for image in siblings] == [image["id"] for image in images]
        assert [image["id"] for image in siblings if image["selected"]] == [picked]


async def test_the_event_that_ends_a_training_carries_the_ready_model(studio: Studio) -> None:
    started = (await studio.start_training("alice", make_selfies(10)))["data"]["startTraining"]
    training_id = studio.fake.trainings[-1].id

    async with subscribe(
        studio.origin, token_for("alice"), PROGRESS_WITH_MODEL, {"id": started["trainingJob"]["id"]}
    ) as subscription:
        first = await subscription.next()
        version = await studio.fake.play(training_id)
        rest = await subscription.payloads_until_complete()

    assert first["payload"]["data"]["trainingProgress"]["model"] == {
        "id": started["model"]["id"],
        "status": "TRAINING",
        "replicateVersionId": None,
    }
    last = rest[-1]["data"]["trainingProgress"]
    assert last["status"] == "SUCCEEDED"
    assert last["model"] == {
        "id": started["model"]["id"],
        "status": "READY",
        "replicateVersionId": version.split(":")[-1],
    }


async def test_image_urls_are_absolute_on_the_public_base_url(studio: Studio) -> None:
    await studio.trained("alice")
    images = (await studio.generated("alice", "in the snow"))["images"]

    for image in images:
        assert image["url"].startswith(f"{studio.origin}/images/")
        async with httpx.AsyncClient() as browser_like:  # no credentials of any kind
            response = await browser_like.get(image["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"


async def test_without_a_public_base_url_image_urls_use_the_requests_own_host(
    api: Api, engine: AsyncEngine
) -> None:
    await seed_generations(engine, api, 1)
    query = "{ me { generations(first: 1) { edges { node { images { url } } } } } }"

    as_asked = await api.client.post(
        "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token_for('alice')}", "Host": "photos.example:8443"},
    )

    [edge] = as_asked.json()["data"]["me"]["generations"]["edges"]
    urls = [image["url"] for image in edge["node"]["images"]]
    assert len(urls) == 3
    assert all(url.startswith("http://photos.example:8443/images/") for url in urls)
