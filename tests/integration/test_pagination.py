"""me.generations and me.trainingJobs: keyset pages, edges, and a fixed number of statements."""

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.generation.parameters import GenerationParameters
from tests.integration.api import Api, error_codes, token_for

PAGE = """
query($first: Int, $after: String, $source: GenerationSource) {
  me {
    model { status replicateVersionId }
    generations(first: $first, after: $after, source: $source) {
      edges { cursor node { id prompt status parameters { seed } images { url selected } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""
JOBS = """
query($first: Int, $after: String) {
  me { trainingJobs(first: $first, after: $after) {
    edges { node { id imageCount } } pageInfo { hasNextPage endCursor }
  } }
}
"""
BASE = datetime(2026, 11, 1, tzinfo=UTC)


async def seed_generations(engine: AsyncEngine, api: Api, count: int) -> str:
    await api.graphql("{ me { id } }", token=token_for("alice"))
    async with engine.begin() as connection:
        user_id = await connection.scalar(text("SELECT id FROM users WHERE subject = 'alice'"))
        for index in range(count):
            generation_id = uuid.uuid4()
            await connection.execute(
                text(
                    "INSERT INTO generations (id, user_id, source, replicate_version, style_id,"
                    " prompt, parameters, status, created_at, completed_at) VALUES (:id, :user,"
                    " :source, 'o/m:v', :style, :prompt, CAST(:parameters AS jsonb), 'SUCCEEDED',"
                    " :at, :at)"
                ),
                {
                    "id": generation_id,
                    "user": user_id,
                    "source": "MAYA" if index % 2 == 0 else "PHOTOSHOOT",
                    "style": None if index % 2 == 0 else "evening-black-tie",
                    "prompt": f"prompt {index}",
                    "parameters": _parameters(index),
                    # Pairs share a moment: the id must break the tie.
                    "at": BASE + timedelta(minutes=index // 2),
                },
            )
            for position in range(3):
                await connection.execute(
                    text(
                        "INSERT INTO generated_images (generation_id, user_id, position,"
                        " storage_key, content_type, width, height) VALUES (:g, :u, :p, :k,"
                        " 'image/png', 768, 1024)"
                    ),
                    {
                        "g": generation_id,
                        "u": user_id,
                        "p": position,
                        "k": f"{generation_id}/{position}",
                    },
                )
    return str(user_id)


def _parameters(seed: int) -> str:
    import json

    return json.dumps(GenerationParameters(seed=seed).as_dict())


async def page(api: Api, **variables: Any) -> dict[str, Any]:
    body = await api.graphql(PAGE, token=token_for("alice"), variables=variables)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["me"]["generations"]
    return result


async def test_pages_walk_every_generation_newest_first_without_gaps(
    api: Api, engine: AsyncEngine
) -> None:
    await seed_generations(engine, api, 7)

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        result = await page(api, first=3, after=after)
        seen += [edge["node"]["prompt"] for edge in result["edges"]]
        pages += 1
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
        assert result["edges"][-1]["cursor"] == after

    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert seen[0] in {"prompt 6", "prompt 5"}
    assert seen[-1] in {"prompt 0", "prompt 1"}


async def test_page_edges(api: Api, engine: AsyncEngine) -> None:
    await seed_generations(engine, api, 4)

    empty = await page(api, first=0)
    everything = await page(api, first=100)
    exact = await page(api, first=4)
    photoshoots = await page(api, first=10, source="PHOTOSHOOT")
    after_last = await page(api, first=5, after=everything["pageInfo"]["endCursor"])

    assert empty["edges"] == []
    assert empty["pageInfo"]["hasNextPage"] is True
    assert len(everything["edges"]) == 4
    assert everything["pageInfo"]["hasPreviousPage"] is False
    assert exact["pageInfo"]["hasNextPage"] is False
    assert {edge["node"]["prompt"] for edge in photoshoots["edges"]} == {"prompt 1", "prompt 3"}
    assert after_last["edges"] == []
    assert after_last["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": None,
        "endCursor": None,
    }


async def test_page_sizes_and_cursors_are_checked(api: Api, engine: AsyncEngine) -> None:
    await seed_generations(engine, api, 1)

    for variables in (
        {"first": 101},
        {"first": -1},
        {"first": 2**31},
        {"first": 10**400},
        {"after": "not-a-cursor"},
    ):
        body = await api.graphql(PAGE, token=token_for("alice"), variables=variables)
        assert error_codes(body) == ["BAD_USER_INPUT"], variables


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


ROW = "0b7e4a5c-6f62-4c0e-9d55-2f8f1f6b2a10"
CRAFTED_CURSORS = {
    "not base64": "!!!!",
    "one base64 character too many": "abcde",
    "base64 with a NUL inside": "MjAy\x00NiØ",
    "no separator": _b64(b"2026-11-01T00:00:00+00:00"),
    "a huge integer for the moment": _b64(b"9" * 400 + b"|" + ROW.encode()),
    "a huge integer for the id": _b64(b"2026-11-01T00:00:00+00:00|" + b"9" * 400),
    "a wrong prefix": _b64(f"generation:2026-11-01T00:00:00+00:00|{ROW}".encode()),
    "no time zone": _b64(f"2026-11-01T00:00:00|{ROW}".encode()),
    "past the last moment in UTC": _b64(f"9999-12-31T23:59:59-23:59|{ROW}".encode()),
    "before the first moment in UTC": _b64(f"0001-01-01T00:00:00+23:59|{ROW}".encode()),
    "a NUL byte": _b64(f"2026-11-01T00:00:00+00:00|{ROW}\x00".encode()),
    "not UTF-8": _b64(b"\xff\xfe2026-11-01T00:00:00+00:00|" + ROW.encode()),
    "very long": _b64(b"2026-11-01T00:00:00+00:00|" + ROW.encode()) * 2_000,
}


@pytest.mark.parametrize("after", CRAFTED_CURSORS.values(), ids=CRAFTED_CURSORS.keys())
async def test_a_crafted_cursor_is_bad_user_input(
    api: Api, engine: AsyncEngine, after: str
) -> None:
    await seed_generations(engine, api, 1)

    for query in (PAGE, JOBS):
        body = await api.graphql(query, token=token_for("alice"), variables={"after": after})
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["data"] is None


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """The statements run meanwhile, but for the served app's reconciler rounds (claiming
    leases, looking for ended trainings' uploads: they come when they come) and each
    request's sign-in (one read of its user)."""
    statements: list[str] = []
    not_counted = ("SET lease_until", "upload_file_id IS NOT NULL", "WHERE users.subject =")

    def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not any(part in statement for part in not_counted):
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", count)


async def test_a_page_costs_a_fixed_small_number_of_statements(
    api: Api, engine: AsyncEngine
) -> None:
    await seed_generations(engine, api, 25)
    await page(api, first=1)  # the first request provisions the user

    with counted_statements() as small:
        small_page = await page(api, first=2)
    with counted_statements() as full:
        full_page = await page(api, first=20)

    assert len(full_page["edges"]) == 20
    assert all(len(edge["node"]["images"]) == 3 for edge in full_page["edges"])
    assert len(small_page["edges"]) == 2
    # The model, the page, the page's images: never one statement per row.
    assert 0 < len(full) == len(small) <= 4


async def test_training_jobs_are_paged_too(api: Api, engine: AsyncEngine) -> None:
    user_id = await seed_generations(engine, api, 0)
    async with engine.begin() as connection:
        model_id = uuid.uuid4()
        await connection.execute(
            text(
                "INSERT INTO user_models (id, user_id, replicate_model_id, status)"
                " VALUES (:id, :u, 'o/m', 'FAILED')"
            ),
            {"id": model_id, "u": user_id},
        )
        for index in range(3):
            await connection.execute(
                text(
                    "INSERT INTO training_jobs (user_id, model_id, status, image_count,"
                    " created_at, completed_at) VALUES (:u, :m, 'FAILED', :n, :at, :at)"
                ),
                {"u": user_id, "m": model_id, "n": 10 + index, "at": BASE + timedelta(hours=index)},
            )

    first = await api.graphql(JOBS, token=token_for("alice"), variables={"first": 2})
    jobs = first["data"]["me"]["trainingJobs"]
    rest = await api.graphql(
        JOBS,
        token=token_for("alice"),
        variables={"first": 2, "after": jobs["pageInfo"]["endCursor"]},
    )

    assert [edge["node"]["imageCount"] for edge in jobs["edges"]] == [12, 11]
    assert jobs["pageInfo"]["hasNextPage"] is True
    assert [edge["node"]["imageCount"] for edge in rest["data"]["me"]["trainingJobs"]["edges"]] == [
        10
    ]
