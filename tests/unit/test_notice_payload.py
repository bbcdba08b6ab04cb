"""NOTIFY payloads stay well under PostgreSQL's 8,000-byte limit, whatever a job holds."""

import json

import pytest

from domain.training.models import TrainingJob, TrainingStatus, job_snapshot
from persistence.notifications import MAX_PAYLOAD_BYTES, notice_payload
from tests.unit.training.jobs import NOW, training_job


def failed_job(upstream_error: str, error: str = "The training failed.") -> TrainingJob:
    return training_job(
        id="00000000-0000-0000-0000-000000000001",
        model_id="00000000-0000-0000-0000-000000000002",
        status=TrainingStatus.FAILED,
        progress=0.5,
        replicate_training_id="t1",
        error=error,
        upstream_error=upstream_error,
        started_at=NOW,
        completed_at=NOW,
    )


@pytest.mark.parametrize("text", ["x" * 2000, "é€𝄞" * 700, '\u0000"\\' * 700])
def test_a_snapshot_notice_is_small_and_keeps_its_data(text: str) -> None:
    payload = notice_payload("training:1", job_snapshot(failed_job(text)))

    assert len(payload.encode()) <= MAX_PAYLOAD_BYTES
    assert json.loads(payload)["data"]["status"] == "FAILED"


def test_a_notice_too_large_goes_out_without_its_data() -> None:
    payload = notice_payload("training:1", {"error": "é" * 9000})

    assert len(payload.encode()) <= MAX_PAYLOAD_BYTES
    assert json.loads(payload) == {"topic": "training:1", "data": None}
