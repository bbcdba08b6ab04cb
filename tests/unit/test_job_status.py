"""What the statuses of trainings and generations share: forward-only ranks, the same ends."""

import pytest

from domain.generation.models import ACTIVE_GENERATION_STATUSES, GenerationStatus
from domain.job_status import JobStatus
from domain.training.models import ACTIVE_TRAINING_STATUSES, TrainingStatus

ENDS = {"SUCCEEDED", "FAILED", "CANCELED"}


def test_training_statuses_rank_in_the_order_a_training_passes_them() -> None:
    ranks = {status.value: status.rank for status in TrainingStatus}
    assert ranks == {
        "QUEUED": 0,
        "STARTING": 1,
        "PROCESSING": 2,
        "SUCCEEDED": 3,
        "FAILED": 3,
        "CANCELED": 3,
    }


def test_generation_statuses_rank_in_the_order_a_generation_passes_them() -> None:
    ranks = {status.value: status.rank for status in GenerationStatus}
    assert ranks == {"STARTING": 0, "PROCESSING": 1, "SUCCEEDED": 2, "FAILED": 2, "CANCELED": 2}


@pytest.mark.parametrize("kind", [TrainingStatus, GenerationStatus])
def test_the_ends_are_terminal_and_outrank_every_active_status(kind: type[JobStatus]) -> None:
    ends = [status for status in kind if status.is_terminal]
    assert {status.value for status in ends} == ENDS
    assert min(end.rank for end in ends) > max(s.rank for s in kind if not s.is_terminal)


def test_the_active_statuses_are_the_ones_that_do_not_end_a_job() -> None:
    assert {s.value for s in ACTIVE_TRAINING_STATUSES} == {"QUEUED", "STARTING", "PROCESSING"}
    assert {s.value for s in ACTIVE_GENERATION_STATUSES} == {"STARTING", "PROCESSING"}
