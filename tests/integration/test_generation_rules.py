"""Every generation rule broken once: a coded error, nothing stored, nothing sent."""

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fake_replicate import FakeReplicate
from tests.integration.api import error_codes, token_for
from tests.integration.studio import GENERATION_UPDATED, Studio, open_studio
from tests.integration.ws import subscribe
from tests.selfies import make_selfies

StudioOpener = Callable[..., AbstractAsyncContextManager[Studio]]


@pytest.fixture
def studio_with(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> StudioOpener:
    """Opens a studio whose settings are changed as given."""
    return partial(open_studio, database_url, data_dir, engine, fake_replicate)


def predictions_sent(studio: Studio) -> int:
    return len(
        [r for r in studio.fake.requests if (r.method, r.path) == ("POST", "/v1/predictions")]
    )


async def first_training(studio: Studio) -> str:
    """Starts alice's first training; returns its Replicate id."""
    await studio.start_training("alice", make_selfies(10))
    return studio.fake.trainings[-1].id


async def refused_for_no_model(studio: Studio) -> str:
    """Asks for a generation that is refused as MODEL_NOT_READY, nothing sent; its message."""
    body = await studio.maya("alice", "a portrait")
    assert error_codes(body) == ["MODEL_NOT_READY"]
    assert predictions_sent(studio) == 0
    message: str = body["errors"][0]["message"]
    return message


async def test_without_a_model_generation_is_refused_with_how_to_train(studio: Studio) -> None:
    body = await studio.maya("alice", "a portrait")
    shoot = await studio.photoshoot("alice", "editorial-magazine-cover")

    assert error_codes(body) == ["MODEL_NOT_READY"]
    assert error_codes(shoot) == ["MODEL_NOT_READY"]
    assert "startTraining" in body["errors"][0]["message"]
    assert await studio.count("generations") == 0
    assert studio.fake.requests == []


async def test_while_the_first_training_runs_generation_is_refused_with_its_progress(
    studio: Studio,
) -> None:
    await studio.fake.advance(await first_training(studio), 400, total=1000)
    await studio.fake.settle()

    assert "40%" in await refused_for_no_model(studio)
    assert await studio.count("generations") == 0


async def test_after_a_failed_training_generation_is_refused(studio: Studio) -> None:
    await studio.fake.fail(await first_training(studio))
    await studio.fake.settle()

    assert "again" in await refused_for_no_model(studio)


async def test_an_unusable_version_is_refused(studio: Studio) -> None:
    studio.fake.drop_version_inputs = {"lora_scale"}
    await studio.fake.play(await first_training(studio))
    await studio.fake.settle()

    assert "lora_scale" in await refused_for_no_model(studio)


@pytest.mark.parametrize(
    ("prompt", "hint"), [("   ", "Write a prompt"), ("x" * 1001, "1000")], ids=["empty", "too-long"]
)
async def test_bad_prompts_are_refused(studio: Studio, prompt: str, hint: str) -> None:
    await studio.trained("alice")

    body = await studio.maya("alice", prompt)

    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert hint in body["errors"][0]["message"]
    assert await studio.count("generations") == 0
    assert predictions_sent(studio) == 0


async def test_an_unknown_style_or_long_details_are_refused(studio: Studio) -> None:
    await studio.trained("alice")

    unknown = await studio.photoshoot("alice", "no-such-style")
    long_details = await studio.photoshoot("alice", "evening-black-tie", "x" * 301)

    assert error_codes(unknown) == ["NOT_FOUND"]
    assert error_codes(long_details) == ["BAD_USER_INPUT"]
    assert await studio.count("generations") == 0
    assert predictions_sent(studio) == 0


async def test_a_trigger_word_already_in_the_prompt_is_not_repeated(studio: Studio) -> None:
    await studio.trained("alice")
    user_id = await studio.user_id("alice")

    body = await studio.maya("alice", f"a candid photo of user{user_id} laughing")

    assert body["data"]["generateMaya"]["generation"]["prompt"] == (
        f"a candid photo of user{user_id} laughing"
    )


async def test_another_users_generation_and_images_are_not_found(studio: Studio) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "portrait")
    generation_id, image_id = generation["id"], generation["images"][0]["id"]
    bob = token_for("bob")
    node = "query($id: ID!) { node(id: $id) { id } }"
    select = "mutation($id: ID!) { selectImage(id: $id) { id } }"

    for global_id in (generation_id, image_id):
        assert (await studio.api.graphql(node, token=bob, variables={"id": global_id})) == {
            "data": {"node": None}
        }
    someone_elses = await studio.api.graphql(select, token=bob, variables={"id": image_id})
    unknown = await studio.api.graphql(select, token=bob, variables={"id": "bm9uZQ"})
    async with subscribe(studio.origin, bob, GENERATION_UPDATED, {"id": generation_id}) as sub:
        followed = await sub.next()

    assert error_codes(someone_elses) == error_codes(unknown) == ["NOT_FOUND"]
    assert someone_elses["errors"][0]["message"] == unknown["errors"][0]["message"]
    assert error_codes(followed["payload"]) == ["NOT_FOUND"]
    rows = await studio.rows("SELECT count(*) AS n FROM generated_images WHERE selected")
    assert rows[0]["n"] == 0


async def test_concurrent_generations_beyond_the_active_allowance_are_rate_limited(
    studio: Studio,
) -> None:
    await studio.trained("alice")

    bodies = await asyncio.gather(*(studio.maya("alice", f"portrait {i}") for i in range(5)))

    codes = sorted(error_codes(body)[0] if "errors" in body else "OK" for body in bodies)
    assert codes == ["OK", "OK", "OK", "RATE_LIMITED", "RATE_LIMITED"]
    limited = next(body for body in bodies if "errors" in body)
    assert limited["errors"][0]["extensions"]["retryAfter"] > 0
    assert await studio.count("generations") == 3
    assert predictions_sent(studio) == 3


async def test_the_daily_allowance_is_enforced_and_failures_before_running_give_it_back(
    studio_with: StudioOpener,
) -> None:
    async with studio_with(daily_generation_limit=2) as studio:
        await studio.trained("alice")
        first = await studio.maya("alice", "one")
        await studio.fake.fail_prediction(
            studio.fake.predictions[-1].id, "No GPU could be reserved", before_start=True
        )
        await studio.fake.settle()
        second = await studio.maya("alice", "two")
        third = await studio.maya("alice", "three")
        fourth = await studio.maya("alice", "four")

    assert "errors" not in first
    assert "errors" not in second
    assert "errors" not in third
    assert error_codes(fourth) == ["QUOTA_EXCEEDED"]
    assert fourth["errors"][0]["extensions"]["retryAfter"] > 0
    assert len(studio.fake.predictions) == 3


async def test_a_prediction_that_ran_then_failed_counts_against_the_allowance(
    studio_with: StudioOpener,
) -> None:
    async with studio_with(daily_generation_limit=2) as studio:
        await studio.trained("alice")
        first = await studio.maya("alice", "one")
        generation_id = first["data"]["generateMaya"]["generation"]["id"]
        # The safety checker held back every photo: the provider ran (and billed) it.
        await studio.fake.fail_prediction(studio.fake.predictions[-1].id)
        await studio.fake.settle()
        failed = await studio.generation("alice", generation_id)
        second = await studio.maya("alice", "two")
        third = await studio.maya("alice", "three")

    assert failed["status"] == "FAILED"
    assert "counts against today's allowance" in failed["error"]
    assert "NSFW" not in failed["error"]
    assert "errors" not in second
    assert error_codes(third) == ["QUOTA_EXCEEDED"]
    assert len(studio.fake.predictions) == 2
    rows = await studio.rows("SELECT allowance_returned FROM generations ORDER BY created_at")
    assert [row["allowance_returned"] for row in rows] == [False, False]


async def test_the_daily_training_allowance_is_enforced(studio_with: StudioOpener) -> None:
    async with studio_with(daily_training_limit=1) as studio:
        await studio.trained("alice")
        again = await studio.start_training("alice", make_selfies(10, first_seed=70))

    assert error_codes(again) == ["QUOTA_EXCEEDED"]
    assert await studio.count("training_jobs") == 1
    assert len(studio.fake.trainings) == 1


async def test_an_unreachable_provider_fails_the_generation_and_counts_nothing(
    studio: Studio,
) -> None:
    await studio.trained("alice")
    studio.fake.fail_next("POST", "/predictions", 429, times=10, retry_after=0)

    body = await studio.maya("alice", "portrait")

    assert error_codes(body) == ["UPSTREAM_UNAVAILABLE"]
    rows = await studio.rows("SELECT status, allowance_returned FROM generations")
    assert rows == [{"status": "FAILED", "allowance_returned": True}]
    assert studio.fake.predictions == []


async def test_a_generation_whose_answer_was_lost_is_found_by_its_webhook(studio: Studio) -> None:
    await studio.trained("alice")
    studio.fake.fail_next("POST", "/predictions", 500, process=True)

    body = await studio.maya("alice", "portrait")
    final = await studio.follow_until_done(
        "alice", body["data"]["generateMaya"]["generation"]["id"]
    )

    assert body["data"]["generateMaya"]["generation"]["status"] == "STARTING"
    assert predictions_sent(studio) == 1
    assert final["status"] == "SUCCEEDED"
