"""Per-user allowances that protect the bill; checked under a lock on the user's row."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import QuotaExceeded, RateLimited

ACTIVE_RETRY_AFTER_SECONDS = 15


@dataclass(frozen=True)
class Allowances:
    max_active_generations: int = 3
    daily_generations: int = 100
    daily_trainings: int = 3


def day_start(now: datetime) -> datetime:
    """The start of `now`'s UTC day: daily allowances reset then."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_until_tomorrow(now: datetime) -> int:
    return max(1, int((day_start(now) + timedelta(days=1) - now).total_seconds()))


def check_generation_allowance(
    allowances: Allowances, *, active: int, today: int, now: datetime
) -> None:
    if today >= allowances.daily_generations:
        raise QuotaExceeded(
            f"You have used today's {allowances.daily_generations} generations; "
            "more are available after midnight UTC.",
            seconds_until_tomorrow(now),
        )
    if active >= allowances.max_active_generations:
        raise RateLimited(
            f"{active} of your generations are still running; start another once one finishes.",
            ACTIVE_RETRY_AFTER_SECONDS,
        )


def check_training_allowance(allowances: Allowances, *, today: int, now: datetime) -> None:
    if today >= allowances.daily_trainings:
        raise QuotaExceeded(
            f"You have started {allowances.daily_trainings} trainings today; "
            "you can train again after midnight UTC.",
            seconds_until_tomorrow(now),
        )
