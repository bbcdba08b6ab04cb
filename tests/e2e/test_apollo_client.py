"""The official Apollo Client (tests/clients/apollo.js) against the real server, in Node.

Each `tests/clients/apollo/*.test.js` runs as one test here, all against one stack (a user
of its own per file); a failing Node test fails its pytest test with Node's output.
"""

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.node_suite import (
    CLIENTS_DIR,
    NodeStack,
    assert_node_passed,
    node_stack,
    run_node_tests,
)

SUITE = sorted(path.name for path in (CLIENTS_DIR / "apollo").glob("*.test.js"))
README = Path(__file__).resolve().parents[2] / "README.md"
README_SECTION = "Use it from a React app"


@pytest.fixture(scope="module")
async def stack(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[NodeStack]:
    async with node_stack(postgres_server_url, tmp_path_factory.mktemp("apollo")) as running:
        yield running


def test_the_suite_is_there() -> None:
    assert set(SUITE) >= {
        "training.test.js",
        "generation.test.js",
        "pagination.test.js",
        "nodes.test.js",
        "persisted.test.js",
    }


@pytest.mark.parametrize("test_file", SUITE)
async def test_apollo_client(stack: NodeStack, test_file: str) -> None:
    run = await run_node_tests([Path("apollo") / test_file], stack.node_env())

    assert_node_passed(run, stack)


def test_the_readme_shows_the_client_setup_the_suite_uses() -> None:
    module = (CLIENTS_DIR / "apollo.js").read_text()
    marked = re.search(r"^// README:start\n(.*?)^// README:end$", module, re.S | re.M)
    assert marked is not None, "apollo.js lost its README:start / README:end markers"
    readme = README.read_text()
    section = re.search(
        rf"^#+ {re.escape(README_SECTION)}\s*$(.*?)(?=^#+ |\Z)", readme, re.S | re.M
    )
    assert section is not None, f"README.md has no section {README_SECTION!r}"
    block = re.search(r"^```(?:js|javascript)\n(.*?)^```$", section.group(1), re.S | re.M)
    assert block is not None, f"README.md's {README_SECTION!r} has no js code block"

    assert block.group(1).strip() == marked.group(1).strip()
