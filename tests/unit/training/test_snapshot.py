"""A training announced across processes reads back as it was, and a torn notice is refused."""

from datetime import UTC, datetime

import pytest

from domain.training.models import TrainingJob, TrainingStatus, job_from_snapshot, job_snapshot

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
JOB = TrainingJob(
    id="00000000-0000-0000-0000-000000000001",
    user_id="u1",
    model_id="00000000-0000-0000-0000-000000000002",
    status=TrainingStatus.PROCESSING,
    progress=0.25,
    image_count=12,
    replicate_training_id="t1",
    error=None,
    upstream_error=None,
    created_at=NOW,
    started_at=NOW,
    completed_at=None,
    updated_at=NOW,
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
