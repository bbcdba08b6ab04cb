"""A training announced across processes reads back as it was, and a torn notice is refused."""

import pytest

from domain.training.models import TrainingStatus, job_from_snapshot, job_snapshot
from tests.unit.training.jobs import NOW, training_job

JOB = training_job(
    id="00000000-0000-0000-0000-000000000001",
    model_id="00000000-0000-0000-0000-000000000002",
    status=TrainingStatus.PROCESSING,
    progress=0.25,
    image_count=12,
    replicate_training_id="t1",
    started_at=NOW,
    images_url="https://files.invalid/selfies.zip",
)


def test_a_snapshot_reads_back_as_the_job() -> None:
    assert job_from_snapshot(job_snapshot(JOB)) == JOB


@pytest.mark.parametrize("moment", ["created_at", "updated_at"])
def test_a_snapshot_without_its_creation_or_update_moment_is_refused(moment: str) -> None:
    snapshot = job_snapshot(JOB)
    del snapshot[moment]

    with pytest.raises(ValueError, match=moment):
        job_from_snapshot(snapshot)
