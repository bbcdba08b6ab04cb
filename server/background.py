"""Work a server replica does besides answering requests."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from domain.generation.service import GenerationService
from domain.training.service import TrainingService
from settings import Settings

log = logging.getLogger(__name__)

RECONCILE_BATCH = 50
WEBHOOK_IDS_KEPT_FOR = timedelta(days=2)


async def reconcile_forever(
    training: TrainingService, generation: GenerationService, settings: Settings
) -> None:
    """Polls Replicate for every active job webhooks have not reported on lately.

    Without PUBLIC_BASE_URL no webhook ever comes, so every active job is polled.
    Leases keep replicas from polling the same job at once.
    """
    interval = settings.reconcile_interval_seconds
    silence = settings.webhook_silence_seconds if settings.public_base_url else 0.0
    lease = max(30.0, 3 * interval)
    rounds = 0
    while True:
        checked = 0
        for name, service in (("trainings", training), ("generations", generation)):
            # Each kind on its own: one failing never holds back the other's round.
            try:
                checked = max(
                    checked,
                    await service.reconcile(
                        silent_for_seconds=silence, lease_seconds=lease, batch=RECONCILE_BATCH
                    ),
                )
            except Exception:
                log.exception("reconciling %s failed; trying again in %.1fs", name, interval)
        if rounds % 1000 == 0:
            try:
                await training.forget_webhooks_before(datetime.now(UTC) - WEBHOOK_IDS_KEPT_FOR)
            except Exception:
                log.exception("forgetting old webhook ids failed")
        rounds += 1
        if checked < RECONCILE_BATCH:  # a full batch means more may be waiting
            await asyncio.sleep(interval)
