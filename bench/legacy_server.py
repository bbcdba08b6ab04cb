"""`sselfie serve` preparing selfies as it did before the process pool: the baseline of
`bench.uploads`.

The same server in every other respect: only the selfie step (bench/legacy_selfies.py,
the old module verbatim: in-process, full-size decoding, 2048 px out) and the checks
before it (the active training only; the allowance after decoding, under the lock)
are the old ones.

    python -m bench.legacy_server serve --port PORT
"""

import sys
from collections.abc import Sequence

import domain.training.service as training_service
from bench import legacy_selfies
from domain.errors import TrainingInProgress
from domain.ports import SelfieProcessor
from domain.training.selfies import DEFAULT_LIMITS, PreparedSelfies, SelfieLimits, SelfieSource
from domain.training.service import TrainingService
from domain.users.models import User
from server.cli import main


async def _old_prepare(
    sources: Sequence[SelfieSource],
    processor: SelfieProcessor,
    *,
    limits: SelfieLimits = DEFAULT_LIMITS,
) -> PreparedSelfies:
    """The old step with its own limits (2048 px out); the pool goes unused."""
    old = await legacy_selfies.prepare_selfies(sources)
    return PreparedSelfies(images=old.images, zip_bytes=old.zip_bytes)


async def _old_checks(self: TrainingService, user: User) -> None:
    async with self._uow(read_only=True) as uow:
        if await uow.training_jobs.active_for_user(user.id):
            raise TrainingInProgress("A training of yours is already running.")


def use_the_old_selfie_step() -> None:
    training_service.prepare_selfies = _old_prepare  # type: ignore[attr-defined]
    TrainingService._check_may_start = _old_checks  # type: ignore[method-assign]


if __name__ == "__main__":
    use_the_old_selfie_step()
    sys.exit(main())
