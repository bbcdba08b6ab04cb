"""A headless Chromium (Debian's, driven by playwright-core) against the real server.

Alice trains and generates here, through the fake Replicate; then `node --test` runs
tests/clients/browser/: GraphiQL runs `{ me { id } }` with her token, a page from an
allowed loopback origin fetches her latest generation and shows its image, and the same
page from another loopback origin is blocked (fetch and WebSocket).
"""

import os
from pathlib import Path

import httpx
import pytest

from tests.e2e.node_suite import (
    SERVER_LOG_TAIL,
    NodeStack,
    assert_node_passed,
    node_stack,
    run_node_tests,
)
from tests.e2e.server_process import free_port
from tests.integration.api import Api, token_for
from tests.integration.studio import GENERATE_MAYA, GENERATION_UPDATED, START_TRAINING
from tests.integration.ws import subscribe
from tests.selfies import make_selfies

SUBJECT = "alice"  # node_env() hands her token to Node as SSELFIE_TOKEN_ALICE
BROWSER_SUITE = "browser/"
BROWSER_SUITE_SECONDS = 120.0


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the browser tests need Debian's chromium at {path} (or set CHROMIUM_PATH)")
    return path


def page_ports() -> tuple[int, int]:
    allowed = free_port()
    disallowed = free_port()
    while disallowed == allowed:
        disallowed = free_port()
    return allowed, disallowed


async def seed_a_generation(stack: NodeStack) -> str:
    """Trains alice's model and runs one generation to SUCCEEDED; her user id."""
    token = token_for(SUBJECT)
    async with httpx.AsyncClient(base_url=stack.origin, timeout=30) as client:
        api = Api(client)
        files = [(f"selfie-{i}.jpg", image) for i, image in enumerate(make_selfies(10))]
        started = await api.upload(START_TRAINING, files, token=token)
        assert "errors" not in started, started
        await stack.fake.play(stack.fake.trainings[-1].id)
        await stack.fake.settle()

        body = await api.graphql(GENERATE_MAYA, token=token, variables={"prompt": "on a boat"})
        assert "errors" not in body, body
        generation_id = body["data"]["generateMaya"]["generation"]["id"]
        async with subscribe(
            stack.origin, token, GENERATION_UPDATED, {"id": generation_id}
        ) as subscription:
            await subscription.next()
            await stack.fake.succeed_prediction(stack.fake.predictions[-1].id)
            updates = await subscription.payloads_until_complete()
        assert updates[-1]["data"]["generationUpdated"]["status"] == "SUCCEEDED", updates[-1]

        me = await api.graphql("{ me { id } }", token=token)
    user_id: str = me["data"]["me"]["id"]
    return user_id


async def test_chromium_uses_the_api_from_graphiql_and_allowed_origins_only(
    postgres_server_url: str, tmp_path: Path
) -> None:
    chromium = chromium_path()
    allowed_port, disallowed_port = page_ports()
    allowed_origin = f"http://127.0.0.1:{allowed_port}"

    async with node_stack(
        postgres_server_url, tmp_path, CORS_ALLOWED_ORIGINS=allowed_origin
    ) as stack:
        try:
            user_id = await seed_a_generation(stack)
        except Exception as error:
            log = "".join(stack.server.output[-SERVER_LOG_TAIL:])
            pytest.fail(f"seeding alice's generation failed: {error!r}\n{log}", pytrace=False)
        env = stack.node_env(
            CHROMIUM_PATH=chromium,
            SSELFIE_USER_ID=user_id,
            SSELFIE_ALLOWED_PAGE_PORT=str(allowed_port),
            SSELFIE_DISALLOWED_PAGE_PORT=str(disallowed_port),
        )
        run = await run_node_tests([BROWSER_SUITE], env, seconds=BROWSER_SUITE_SECONDS)
        assert_node_passed(run, stack)
