"""An output URL off the allowed hosts is never fetched: the generation fails, uncharged."""

import pytest

from tests.integration.api import token_for
from tests.integration.studio import GENERATION_UPDATED, Studio
from tests.integration.ws import subscribe


@pytest.mark.parametrize(
    "output",
    [
        "http://169.254.169.254/latest/meta-data/iam/out-0.png",
        "https://evil.invalid/out-0.png",
    ],
)
async def test_an_output_off_the_allowed_hosts_fails_the_generation_uncharged(
    studio: Studio, output: str, caplog: pytest.LogCaptureFixture
) -> None:
    await studio.trained("alice")
    body = await studio.maya("alice", "in a garden")
    generation_id = body["data"]["generateMaya"]["generation"]["id"]
    prediction_id = studio.fake.predictions[-1].id

    async with subscribe(
        studio.origin, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
    ) as subscription:
        await subscription.next()
        await studio.fake.succeed_prediction(prediction_id, outputs=[output])
        rest = await subscription.payloads_until_complete()

    final = rest[-1]["data"]["generationUpdated"]
    assert final["status"] == "FAILED"
    assert final["images"] == []
    rows = await studio.rows("SELECT allowance_returned FROM generations")
    assert rows[0]["allowance_returned"] is True
    assert await studio.count("generated_images") == 0
    assert "refused to fetch an output" in caplog.text
