"""Replicas sharing one bucket (real `sselfie serve` processes, moto's S3), and the settings
a server refuses to start with."""

import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.journeys import trained_and_generating
from tests.e2e.server_process import free_port, run_sselfie, sselfie_env, sselfie_server, studio_env
from tests.fake_replicate import FakeReplicate
from tests.integration.api import token_for
from tests.integration.studio import GENERATION_UPDATED
from tests.integration.ws import subscribe
from tests.s3 import MotoS3


async def generated_images(base_url: str, fake: FakeReplicate) -> list[str]:
    """alice's model trained and a Maya generation run to its end through `base_url`: the
    paths (and signed queries) of its images."""
    generation_id = await trained_and_generating(base_url, fake, "two replicas")
    async with subscribe(
        base_url, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
    ) as subscription:
        await subscription.next()
        await fake.succeed_prediction(fake.predictions[-1].id)
        final = await subscription.payloads_until_complete()
    generation = final[-1]["data"]["generationUpdated"]
    assert generation["status"] == "SUCCEEDED"
    urls = [httpx.URL(image["url"]) for image in generation["images"]]
    return [f"{url.raw_path.decode()}" for url in urls]


async def fetched(base_url: str, path: str) -> httpx.Response:
    """What a browser on another origin gets: no credentials, redirects followed."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as browser:
        return await browser.get(path, follow_redirects=True)


async def test_replicas_with_their_own_data_directories_share_the_images_of_one_bucket(
    database_url: str,
    tmp_path: Path,
    fake: FakeReplicate,
    engine: AsyncEngine,
    moto_s3: MotoS3,
    bucket: str,
) -> None:
    s3 = moto_s3.env(bucket, "replicas")
    for replica in ("a", "b"):
        (tmp_path / replica).mkdir()
    port_a, port_b = free_port(), free_port()
    env_a = studio_env(database_url, tmp_path / "a", fake, f"http://127.0.0.1:{port_a}", **s3)
    env_b = studio_env(database_url, tmp_path / "b", fake, f"http://127.0.0.1:{port_b}", **s3)

    with sselfie_server(env_a, port=port_a) as a, sselfie_server(env_b, port=port_b) as b:
        paths = await generated_images(a.base_url, fake)
        await fake.expire_outputs(fake.predictions[-1].id)
        kept_by_a = sorted(str(path) for path in (tmp_path / "a").rglob("*"))
        shutil.rmtree(tmp_path / "a")
        through_b = [await fetched(b.base_url, path) for path in paths]
        through_a = [await fetched(a.base_url, path) for path in paths]

    originals = [key for key in moto_s3.keys(bucket) if key.endswith(".png")]
    assert len(paths) == len(originals) == 3
    assert all(key.startswith("replicas/") for key in originals)
    for response in through_b + through_a:
        assert response.status_code == 200
        assert response.history[0].status_code == 307
        assert response.url.host == "127.0.0.1"
        assert response.url.port == moto_s3.port
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG")
    assert [r.content for r in through_b] == [r.content for r in through_a]
    assert kept_by_a == []
    assert not (tmp_path / "b" / "images").exists()


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    "storage_url", ["http://minio:9000/images", "s3://", "s3:///images", "s3://Images/a/../b"]
)
def test_a_malformed_storage_url_is_refused_at_start(
    tmp_path: Path, command: str, storage_url: str
) -> None:
    result = run_sselfie(command, env=sselfie_env(tmp_path, STORAGE_URL=storage_url))

    assert result.returncode == 2
    refusals = [line for line in result.stderr.splitlines() if "STORAGE_URL" in line]
    assert len(refusals) == 1
    assert "s3://BUCKET[/PREFIX]" in refusals[0]
    assert not (tmp_path / "postgres").exists()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_bucket_without_credentials_is_refused_at_start(tmp_path: Path, command: str) -> None:
    env = sselfie_env(tmp_path, STORAGE_URL="s3://images", AWS_ENDPOINT_URL="http://127.0.0.1:9")

    result = run_sselfie(command, env=env)

    assert result.returncode == 2
    assert "STORAGE_URL=s3://images needs the store's credentials" in result.stderr
    assert "AWS_ACCESS_KEY_ID" in result.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_bucket_that_takes_no_write_is_refused_at_start_in_one_line(
    tmp_path: Path, command: str
) -> None:
    env = sselfie_env(
        tmp_path,
        STORAGE_URL="s3://images",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="secret",
    )

    result = run_sselfie(command, env=env)

    assert result.returncode == 2
    refusals = [line for line in result.stderr.splitlines() if "STORAGE_URL=s3://images" in line]
    assert len(refusals) == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "postgres").exists()
