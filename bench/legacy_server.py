"""`sselfie serve` preparing selfies as it did before the process pool: the baseline of
`bench.uploads`.

The same server in every other respect: only the selfie step (`domain/training/selfies.py`
as it was at BASELINE_COMMIT, read from git: in-process, full-size decoding, 2048 px out)
and the checks before it (the active training only; the allowance after decoding, under
the lock) are the old ones. Run it from a git checkout.

    python -m bench.legacy_server serve --port PORT
"""

import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import domain.training.service as training_service
from domain.errors import TrainingInProgress
from domain.ports import SelfieProcessor
from domain.training.selfies import DEFAULT_LIMITS, PreparedSelfies, SelfieLimits, SelfieSource
from domain.training.service import TrainingService
from domain.users.models import User
from server.cli import main

BASELINE_COMMIT = "b0a947a"
ROOT = Path(__file__).resolve().parents[1]


def _module_at_baseline(path: str) -> ModuleType:
    source = subprocess.run(  # noqa: S603 (git, with our own arguments)
        ["git", "show", f"{BASELINE_COMMIT}:{path}"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    copy = Path(tempfile.mkdtemp(prefix="sselfie-baseline-")) / Path(path).name
    copy.write_bytes(source)
    spec = importlib.util.spec_from_file_location("baseline_selfies", copy)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path} at {BASELINE_COMMIT}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


legacy_selfies = _module_at_baseline("domain/training/selfies.py")


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
