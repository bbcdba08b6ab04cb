"""What the statuses of every upstream job (trainings, generations) share."""

from enum import StrEnum
from functools import cache

_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED"})


class JobStatus(StrEnum):
    """Statuses declared in the order a job passes them: its active ones, then
    SUCCEEDED, FAILED and CANCELED, which end it and rank alike, last."""

    @property
    def is_terminal(self) -> bool:
        return self.value in _TERMINAL

    @property
    def rank(self) -> int:
        """Statuses only move to a higher rank."""
        return _ranks(type(self))[self]


@cache
def _ranks(kind: type[JobStatus]) -> dict[JobStatus, int]:
    active = [status for status in kind if not status.is_terminal]
    return {status: active.index(status) if status in active else len(active) for status in kind}
