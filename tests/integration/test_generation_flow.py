"""Generation end to end through the fake Replicate: exact bodies, images kept, URLs."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.webhook_links import WebhookKind
from tests.fake_replicate import FakeReplicate
from tests.integration.api import token_for
from tests.integration.studio import GENERATION_UPDATED, Studio, local, open_studio
from tests.integration.ws import subscribe
from tests.locked_body import assert_locked_body

LOCKED = {
    "num_inference_steps": 40,
    "lora_scale": 0.95,
    "num_outputs": 3,
    "aspect_ratio": "3:4",
    "output_format": "png",
    "output_quality": 95,
    "go_fast": False,
    "disable_safety_checker": False,
}


def prediction_request(studio: Studio) -> dict[str, Any]:
    requests = [
        r for r in studio.fake.requests if (r.method, r.path) == ("POST", "/v1/predictions")
    ]
    assert len(requests) == 1
    body: dict[str, Any] = requests[0].json
    return body


async def test_a_maya_generation_runs_on_the_users_own_version(studio: Studio) -> None:
    version = await studio.trained("alice")
    user_id = await studio.user_id("alice")

    body = await studio.maya("alice", "  a   portrait in  soft window light ")

    generation = body["data"]["generateMaya"]["generation"]
    seed = generation["parameters"]["seed"]
    assert generation["status"] == "STARTING"
    assert generation["source"] == "MAYA"
    assert generation["prompt"] == f"user{user_id} a portrait in soft window light"
    assert generation["parameters"] == {
        "guidance": 2.8,
        "numInferenceSteps": 40,
        "loraScale": 0.95,
        "numOutputs": 3,
        "aspectRatio": "3:4",
        "outputFormat": "png",
        "outputQuality": 95,
        "goFast": False,
        "disableSafetyChecker": False,
        "seed": seed,
    }
    assert 0 <= seed < 1_000_000
    assert prediction_request(studio) == {
        "version": f"sandrasocial/{user_id}-selfie-lora:{version}",
        "input": {
            "prompt": f"user{user_id} a portrait in soft window light",
            "guidance_scale": 2.8,
            **LOCKED,
            "seed": seed,
        },
        "webhook": await studio.webhook_url(WebhookKind.GENERATION, local(generation["id"])),
        "webhook_events_filter": ["start", "completed"],
    }
    assert_locked_body(
        prediction_request(studio), version=f"sandrasocial/{user_id}-selfie-lora:{version}"
    )


async def test_a_photoshoot_body_uses_the_style_and_the_versions_spelling(studio: Studio) -> None:
    studio.fake.guidance_name = "guidance"
    version = await studio.trained("alice")
    user_id = await studio.user_id("alice")

    body = await studio.photoshoot("alice", "business-professional-headshot", "  navy   blazer ")

    generation = body["data"]["generatePhotoshoot"]["generation"]
    sent = prediction_request(studio)
    assert generation["style"]["id"] == "business-professional-headshot"
    assert generation["prompt"].count(f"user{user_id}") == 1
    assert "navy blazer" in generation["prompt"].lower()
    assert sent == {
        "version": f"sandrasocial/{user_id}-selfie-lora:{version}",
        "input": {
            "prompt": generation["prompt"],
            "guidance": 2.8,
            **LOCKED,
            "seed": generation["parameters"]["seed"],
        },
        "webhook": await studio.webhook_url(WebhookKind.GENERATION, local(generation["id"])),
        "webhook_events_filter": ["start", "completed"],
    }
    assert_locked_body(
        sent, version=f"sandrasocial/{user_id}-selfie-lora:{version}", guidance_name="guidance"
    )


async def test_images_are_kept_and_served_after_the_provider_deletes_them(studio: Studio) -> None:
    await studio.trained("alice")
    body = await studio.maya("alice", "on a rooftop at dusk")
    generation_id = body["data"]["generateMaya"]["generation"]["id"]
    prediction_id = studio.fake.predictions[-1].id

    async with subscribe(
        studio.origin, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
    ) as subscription:
        first = await subscription.next()
        await studio.fake.start_prediction(prediction_id)
        await studio.fake.succeed_prediction(prediction_id)
        rest = await subscription.payloads_until_complete()
    await studio.fake.expire_outputs(prediction_id)

    statuses = [first["payload"]["data"]["generationUpdated"]["status"]] + [
        payload["data"]["generationUpdated"]["status"] for payload in rest
    ]
    assert statuses[0] == "STARTING"
    assert statuses[-1] == "SUCCEEDED"
    assert statuses == sorted(statuses, key=["STARTING", "PROCESSING", "SUCCEEDED"].index)
    images = rest[-1]["data"]["generationUpdated"]["images"]
    assert len(images) == 3
    for image in images:
        assert (image["contentType"], image["selected"]) == ("image/png", False)
        assert (image["width"], image["height"]) == (880, 1184)  # 3:4 at one megapixel
        assert image["url"].startswith(f"{studio.origin}/images/")
        response = await studio.api.client.get(image["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG")
    assert await studio.count("generated_images") == 3


async def test_the_same_webhook_twice_stores_the_images_once(studio: Studio) -> None:
    await studio.trained("alice")
    studio.fake.duplicate_webhooks = True
    body = await studio.maya("alice", "by the sea")
    generation_id = body["data"]["generateMaya"]["generation"]["id"]
    prediction_id = studio.fake.predictions[-1].id

    async with subscribe(
        studio.origin, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
    ) as subscription:
        await subscription.next()
        await studio.fake.succeed_prediction(prediction_id)
        await studio.fake.settle()
        await subscription.payloads_until_complete()

    assert await studio.count("generated_images") == 3
    keys = await studio.rows("SELECT DISTINCT storage_key FROM generated_images")
    assert len(keys) == 3


async def test_outputs_that_expired_before_saving_fail_the_generation(studio: Studio) -> None:
    await studio.trained("alice")
    body = await studio.maya("alice", "in a garden")
    generation_id = body["data"]["generateMaya"]["generation"]["id"]
    prediction_id = studio.fake.predictions[-1].id
    studio.fake.hold_webhooks()
    await studio.fake.succeed_prediction(prediction_id)
    await studio.fake.expire_outputs(prediction_id)

    async with subscribe(
        studio.origin, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
    ) as subscription:
        await subscription.next()
        await studio.fake.release_webhooks()
        rest = await subscription.payloads_until_complete()

    final = rest[-1]["data"]["generationUpdated"]
    assert final["status"] == "FAILED"
    assert "expired" in final["error"]
    assert final["images"] == []
    rows = await studio.rows("SELECT allowance_returned FROM generations")
    assert rows[0]["allowance_returned"] is True


async def test_select_image_marks_one_pick_per_generation(studio: Studio) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "golden hour")
    images = generation["images"]
    select = "mutation($id: ID!) { selectImage(id: $id) { id selected } }"

    first = await studio.api.graphql(
        select, token=token_for("alice"), variables={"id": images[0]["id"]}
    )
    second = await studio.api.graphql(
        select, token=token_for("alice"), variables={"id": images[2]["id"]}
    )

    assert first["data"]["selectImage"] == {"id": images[0]["id"], "selected": True}
    assert second["data"]["selectImage"] == {"id": images[2]["id"], "selected": True}
    after = await studio.generation("alice", generation["id"])
    assert [image["selected"] for image in after["images"]] == [False, False, True]


@pytest.mark.parametrize(
    "tamper",
    ["signature", "expires", "missing", "other-image"],
)
async def test_image_urls_refuse_anything_but_their_own_signature(
    studio: Studio, tamper: str
) -> None:
    await studio.trained("alice")
    images = (await studio.generated("alice", "studio portrait"))["images"]
    url = httpx.URL(images[0]["url"])
    other = httpx.URL(images[1]["url"])
    tampered = {
        "signature": url.copy_merge_params({"signature": "0" * 64}),
        "expires": url.copy_merge_params({"expires": str(int(url.params["expires"]) + 3600)}),
        "missing": url.copy_with(query=None),
        "other-image": other.copy_with(params=url.params),
    }[tamper]

    response = await studio.api.client.get(str(tampered))

    assert response.status_code == 403
    assert response.content == b"Forbidden"


async def test_out_of_order_prediction_webhooks_end_in_the_right_state(studio: Studio) -> None:
    await studio.trained("alice")
    studio.fake.reorder_webhooks = True
    body = await studio.maya("alice", "at the opera")
    generation_id = body["data"]["generateMaya"]["generation"]["id"]
    prediction_id = studio.fake.predictions[-1].id

    async with subscribe(
        studio.origin, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
    ) as subscription:
        await subscription.next()
        await studio.fake.start_prediction(prediction_id)
        await studio.fake.succeed_prediction(prediction_id)
        await studio.fake.settle()
        final = await subscription.payloads_until_complete()

    assert final[-1]["data"]["generationUpdated"]["status"] == "SUCCEEDED"
    assert len(final[-1]["data"]["generationUpdated"]["images"]) == 3


async def test_lost_prediction_webhooks_are_made_up_for_by_the_reconciler(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> None:
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, webhook_silence_seconds=0.2
    ) as studio:
        await studio.trained("alice")
        fake_replicate.drop_webhooks = True
        body = await studio.maya("alice", "in the snow")
        generation_id = body["data"]["generateMaya"]["generation"]["id"]
        prediction_id = fake_replicate.predictions[-1].id
        async with subscribe(
            studio.origin, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
        ) as subscription:
            await subscription.next()
            await fake_replicate.succeed_prediction(prediction_id)
            final = await subscription.payloads_until_complete()

    assert final[-1]["data"]["generationUpdated"]["status"] == "SUCCEEDED"
    assert fake_replicate.calls("GET", f"/predictions/{prediction_id}")


async def test_a_failed_download_is_tried_again(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> None:
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, webhook_silence_seconds=0.2
    ) as studio:
        await studio.trained("alice")
        fake_replicate.fail_next("GET", "/delivery", 503)

        generation = await studio.generated("alice", "under the northern lights")

    downloads = [r for r in fake_replicate.requests if r.path.startswith("/delivery/")]
    assert generation["status"] == "SUCCEEDED"
    assert len(generation["images"]) == 3
    assert [r.status for r in downloads].count(503) == 1
    assert len(downloads) >= 4
