import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.global_ids import decode_global_id, encode_global_id
from tests.integration.api import Api, token_for

ME = "{ me { id model { id status replicateModelId triggerWord replicateVersionId } } }"
NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on UserModel { replicateModelId status }
  }
}
"""


async def sign_in(api: Api, subject: str) -> dict[str, object]:
    body = await api.graphql(ME, token=token_for(subject))
    me: dict[str, object] = body["data"]["me"]
    return me


async def give_model(engine: AsyncEngine, user_global_id: str) -> str:
    decoded = decode_global_id(user_global_id)
    assert decoded is not None
    user_id = decoded[1]
    model_id = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO user_models (id, user_id, replicate_model_id, replicate_version_id,"
                " status, trained_at) VALUES (:id, :user_id, :model, :version, 'READY', :at)"
            ),
            {
                "id": model_id,
                "user_id": user_id,
                "model": f"sandrasocial/{user_id}-selfie-lora",
                "version": "a" * 64,
                "at": datetime.now(UTC),
            },
        )
    return str(encode_global_id("UserModel", str(model_id)))


async def test_a_new_user_has_no_model(api: Api) -> None:
    me = await sign_in(api, "alice")

    assert me["model"] is None
    assert decode_global_id(str(me["id"])) is not None


async def test_me_shows_the_users_own_model(api: Api, engine: AsyncEngine) -> None:
    me = await sign_in(api, "alice")
    model_id = await give_model(engine, str(me["id"]))

    model = (await sign_in(api, "alice"))["model"]

    assert isinstance(model, dict)
    user_id = decode_global_id(str(me["id"]))[1]  # type: ignore[index]
    assert model == {
        "id": model_id,
        "status": "READY",
        "replicateModelId": f"sandrasocial/{user_id}-selfie-lora",
        "triggerWord": f"user{user_id}",
        "replicateVersionId": "a" * 64,
    }


async def test_node_finds_what_the_user_owns(api: Api, engine: AsyncEngine) -> None:
    me = await sign_in(api, "alice")
    model_id = await give_model(engine, str(me["id"]))
    token = token_for("alice")

    user_node = await api.graphql(NODE, token=token, variables={"id": me["id"]})
    model_node = await api.graphql(NODE, token=token, variables={"id": model_id})

    assert user_node["data"]["node"] == {"__typename": "User", "id": me["id"]}
    assert model_node["data"]["node"]["__typename"] == "UserModel"
    assert model_node["data"]["node"]["id"] == model_id


async def test_node_is_null_for_another_users_objects(api: Api, engine: AsyncEngine) -> None:
    alice = await sign_in(api, "alice")
    alices_model = await give_model(engine, str(alice["id"]))
    await sign_in(api, "bob")
    bob = token_for("bob")

    for global_id in (alice["id"], alices_model):
        body = await api.graphql(NODE, token=bob, variables={"id": global_id})
        assert body == {"data": {"node": None}}


async def test_node_is_null_for_ids_that_are_not_ours(api: Api) -> None:
    await sign_in(api, "alice")
    token = token_for("alice")
    unknown = [
        "garbage",
        "",
        str(encode_global_id("UserModel", "not-a-uuid")),
        str(encode_global_id("UserModel", str(uuid.uuid4()))),
        str(encode_global_id("Spaceship", "1")),
        "x" * 5000,
    ]
    for global_id in unknown:
        body = await api.graphql(NODE, token=token, variables={"id": global_id})
        assert body == {"data": {"node": None}}, global_id
