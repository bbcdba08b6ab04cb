"""Apollo's conventions over HTTP: document error codes, GraphQL-over-HTTP statuses,
automatic persisted queries, Retry-After."""

import asyncio
import hashlib
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.persisted_queries import SqlPersistedQueryStore
from server.app import create_app
from settings import Settings
from tests.integration.api import Api, error_codes, token_for
from tests.integration.harness import open_api
from tests.integration.studio import GENERATE_MAYA, Studio

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
ME = "{ me { id } }"
ME_HASH = hashlib.sha256(ME.encode()).hexdigest()


async def post(
    api: Api,
    body: dict[str, Any],
    *,
    accept: str = "application/json",
    subject: str | None = "alice",
) -> httpx.Response:
    headers = {"Accept": accept}
    if subject:
        headers["Authorization"] = f"Bearer {token_for(subject)}"
    return await api.client.post("/graphql", json=body, headers=headers)


def persisted(sha256_hash: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256_hash}}


async def stored_hashes(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT sha256 FROM persisted_queries"))
        return [row.sha256 for row in rows]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ me { id }", "GRAPHQL_PARSE_FAILED"),
        ("{ me { nope } }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_a_document_that_never_ran_is_400_for_graphql_response_json_only(
    api: Api, query: str, code: str
) -> None:
    modern = await post(api, {"query": query}, accept=f"{GRAPHQL_RESPONSE_JSON}, application/json")
    legacy = await post(api, {"query": query})

    assert modern.status_code == 400
    assert modern.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json"
    assert error_codes(modern.json()) == error_codes(legacy.json()) == [code]


async def test_an_execution_error_stays_200_for_graphql_response_json(api: Api) -> None:
    response = await post(
        api,
        {"query": 'mutation { selectImage(id: "bm9uZQ") { id } }'},
        accept=GRAPHQL_RESPONSE_JSON,
    )

    assert response.status_code == 200
    assert error_codes(response.json()) == ["NOT_FOUND"]


async def test_an_unknown_hash_asks_for_the_query_and_stores_nothing(
    api: Api, engine: AsyncEngine
) -> None:
    response = await post(api, {"extensions": persisted(ME_HASH)}, accept=GRAPHQL_RESPONSE_JSON)

    assert response.status_code == 200  # Apollo's clients retry on the code, whatever the status
    assert error_codes(response.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert response.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert await stored_hashes(engine) == []


async def test_a_query_sent_with_its_hash_is_registered_and_then_runs_by_hash_alone(
    api: Api, engine: AsyncEngine
) -> None:
    registering = await post(api, {"query": ME, "extensions": persisted(ME_HASH)})
    by_hash = await post(api, {"extensions": persisted(ME_HASH)})
    by_get = await api.client.get(
        "/graphql",
        params={"extensions": json.dumps(persisted(ME_HASH))},
        headers={"Accept": "*/*", "Authorization": f"Bearer {token_for('alice')}"},
    )

    me = registering.json()["data"]["me"]
    assert by_hash.json() == {"data": {"me": me}}
    assert by_get.json() == {"data": {"me": me}}
    assert await stored_hashes(engine) == [ME_HASH]


async def test_registered_queries_are_shared_by_replicas(
    api: Api, settings: Settings, engine: AsyncEngine
) -> None:
    await post(api, {"query": ME, "extensions": persisted(ME_HASH)})
    assert settings.database_url
    replica = create_app(settings, settings.database_url, migrate_on_start=False)

    async for other in open_api(replica):
        response = await post(other, {"extensions": persisted(ME_HASH)})

        assert response.json()["data"]["me"]["id"]


@pytest.mark.parametrize(
    "extensions",
    [
        persisted(hashlib.sha256(b"{ me { id model { id } } }").hexdigest()),
        persisted(ME_HASH[:-1]),
        persisted(ME_HASH.upper()),
        persisted(ME_HASH, version=2),
        {"persistedQuery": "yes"},
    ],
    ids=["not-its-hash", "short", "uppercase", "version", "not-an-object"],
)
async def test_a_bad_hash_is_refused_and_nothing_is_stored_or_run(
    api: Api, engine: AsyncEngine, extensions: dict[str, Any]
) -> None:
    mutation = 'mutation { selectImage(id: "bm9uZQ") { id } }'

    response = await post(
        api, {"query": mutation, "extensions": extensions}, accept=GRAPHQL_RESPONSE_JSON
    )

    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    assert await stored_hashes(engine) == []


@pytest.mark.parametrize(
    ("query", "subject"),
    [("{ me { nope } }", "alice"), ("{ me { id }", "alice"), (ME, None)],
    ids=["invalid", "unparsable", "signed-out"],
)
async def test_only_a_valid_query_of_a_signed_in_user_is_registered(
    api: Api, engine: AsyncEngine, query: str, subject: str | None
) -> None:
    sha256_hash = hashlib.sha256(query.encode()).hexdigest()

    await post(api, {"query": query, "extensions": persisted(sha256_hash)}, subject=subject)

    assert await stored_hashes(engine) == []


async def test_the_store_keeps_only_its_newest_queries(engine: AsyncEngine) -> None:
    store = SqlPersistedQueryStore(engine, max_entries=2)
    queries = [f"{{ me {{ id }} }} # {index}" for index in range(3)]
    hashes = [hashlib.sha256(query.encode()).hexdigest() for query in queries]

    for sha256_hash, query in zip(hashes, queries, strict=True):
        await store.put(sha256_hash, query)
    await store.put(hashes[1], "ignored: a hash names one query for good")

    assert sorted(await stored_hashes(engine)) == sorted(hashes[1:])
    assert await store.get(hashes[0]) is None
    assert await store.get(hashes[1]) == queries[1]


async def test_a_rate_limited_answer_carries_retry_after(studio: Studio) -> None:
    await studio.trained("alice")

    responses = await asyncio.gather(
        *(
            studio.api.post(GENERATE_MAYA, token=token_for("alice"), variables={"prompt": f"p{i}"})
            for i in range(4)
        )
    )

    limited = [response for response in responses if "errors" in response.json()]
    assert len(limited) == 1
    body = limited[0].json()
    assert error_codes(body) == ["RATE_LIMITED"]
    assert limited[0].headers["retry-after"] == str(body["errors"][0]["extensions"]["retryAfter"])
    assert all(
        "retry-after" not in response.headers for response in responses if response not in limited
    )


async def test_a_browser_visit_gets_graphiql_and_an_api_get_does_not(api: Api) -> None:
    visit = await api.client.get("/graphql", headers={"Accept": "text/html,*/*;q=0.8"})
    hashed = await api.client.get(
        "/graphql", params={"extensions": json.dumps(persisted(ME_HASH))}, headers={"Accept": "*/*"}
    )

    assert visit.headers["content-type"].startswith("text/html")
    assert hashed.headers["content-type"] == "application/json"
