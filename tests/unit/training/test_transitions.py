from dataclasses import replace
from datetime import UTC, datetime

import pytest

from domain.training.models import TrainingJob, TrainingStatus
from domain.training.transitions import advance, changed
from domain.upstream import UpstreamStatus, UpstreamTraining
from tests.unit.training.jobs import NOW, training_job


def job(status: TrainingStatus = TrainingStatus.QUEUED, progress: float = 0.0) -> TrainingJob:
    return training_job(status=status, progress=progress)


def report(
    status: UpstreamStatus, *, step: int | None = None, error: str | None = None
) -> UpstreamTraining:
    logs = f"flux_train_replicate: 50%|█| {step}/1000 [00:01<00:01, 1s/it]\n" if step else ""
    return UpstreamTraining(id="r8-1", status=status, logs=logs, error=error)


def test_a_report_moves_the_job_forward_and_records_the_training() -> None:
    after = advance(job(), report(UpstreamStatus.PROCESSING, step=250), NOW)

    assert after.status is TrainingStatus.PROCESSING
    assert after.progress == 0.25
    assert after.replicate_training_id == "r8-1"
    assert after.started_at == NOW
    assert after.completed_at is None


def test_a_late_report_never_moves_a_job_back() -> None:
    processing = job(TrainingStatus.PROCESSING, progress=0.6)

    after = advance(processing, report(UpstreamStatus.STARTING, step=100), NOW)

    assert after.status is TrainingStatus.PROCESSING
    assert after.progress == 0.6


@pytest.mark.parametrize(
    "ended", [TrainingStatus.SUCCEEDED, TrainingStatus.FAILED, TrainingStatus.CANCELED]
)
def test_an_ended_job_ignores_every_report(ended: TrainingStatus) -> None:
    finished = replace(job(ended, progress=1.0), completed_at=NOW, replicate_training_id="r8-1")

    for status in UpstreamStatus:
        assert advance(finished, report(status, step=10), NOW) == finished


@pytest.mark.parametrize(
    "ended", [TrainingStatus.SUCCEEDED, TrainingStatus.FAILED, TrainingStatus.CANCELED]
)
def test_a_job_that_ended_before_its_training_was_known_records_only_its_id(
    ended: TrainingStatus,
) -> None:
    finished = replace(job(ended), completed_at=NOW)

    after = advance(finished, report(UpstreamStatus.SUCCEEDED, step=10), NOW)

    assert after == replace(finished, replicate_training_id="r8-1")


def test_success_completes_progress() -> None:
    after = advance(job(TrainingStatus.PROCESSING, 0.4), report(UpstreamStatus.SUCCEEDED), NOW)

    assert after.status is TrainingStatus.SUCCEEDED
    assert after.progress == 1.0
    assert after.completed_at == NOW


def test_failure_keeps_the_upstream_error() -> None:
    after = advance(job(), report(UpstreamStatus.FAILED, error="CUDA out of memory"), NOW)

    assert after.status is TrainingStatus.FAILED
    assert after.upstream_error == "CUDA out of memory"
    assert after.completed_at == NOW


def test_changed_sees_status_progress_and_training_id_only() -> None:
    before = job()

    assert not changed(before, replace(before, updated_at=datetime.now(UTC)))
    assert changed(before, replace(before, progress=0.1))
    assert changed(before, replace(before, status=TrainingStatus.STARTING))
