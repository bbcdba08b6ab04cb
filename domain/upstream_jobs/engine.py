"""The engine every job run on Replicate shares: start it (never sending twice what may have
arrived), apply what Replicate reports (forward only, through the kind's transition
table), reconcile the jobs not heard of lately under leases, and end jobs locally."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Generic

from domain.errors import UpstreamRejected, UpstreamUnavailable
from domain.ports import UnitOfWorkFactory
from domain.upstream import UnconfirmedReport, WebhookOutcome
from domain.upstream_jobs.kind import J, JobKind, LocalEnd, R
from domain.webhook_links import WebhookLinks

log = logging.getLogger(__name__)

# Replicate's clock and ours may differ a little: a lost start is looked for this much
# before its job was recorded.
CLOCK_SKEW = timedelta(minutes=1)


class UpstreamJobs(Generic[J, R]):
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        kind: JobKind[J, R],
        *,
        webhooks: WebhookLinks | None,
        start_grace: timedelta,
        lost_start_pages: int,
    ) -> None:
        """`webhooks`: builds each job's webhook URL (None: polling alone); a job still
        unknown upstream after `start_grace` was lost mid-start, looked for first in
        `lost_start_pages` pages of Replicate's recent jobs."""
        self._uow = uow
        self._kind = kind
        self._webhooks = webhooks
        self._start_grace = start_grace
        self._lost_start_pages = lost_start_pages

    # -- starting -------------------------------------------------------------------------

    def webhook_for(self, job: J) -> str | None:
        if self._webhooks is None:
            return None
        return self._webhooks.url_for(self._kind.webhook_kind, job.id)

    async def submit(self, job: J, create: Callable[[], Awaitable[R]]) -> J:
        """Sends the job's create request once and applies the answer. When the request may
        have arrived unanswered, the job is left as it is for its webhook or the reconciler
        (sending it again could start a second job); when it surely did not, the job fails
        and UpstreamUnavailable says so."""
        try:
            report = await create()
        except UpstreamUnavailable as error:
            if not error.may_have_arrived:
                raise await self.fail_to_start(job, error) from error
            log.warning("%s %s may have started upstream: %s", self._kind.name, job.id, error)
            return job
        except UpstreamRejected as error:
            raise await self.fail_to_start(job, error) from error
        applied = await self.apply(job.id, report) or job
        if applied.status.is_terminal and not report.status.is_terminal:
            # It ended here (canceled, say) while its create request was out.
            await self._cancel_orphan(report.id)
        return applied

    async def fail_to_start(self, job: J, error: Exception) -> UpstreamUnavailable:
        """Fails a job whose start failed surely before reaching Replicate: the error to raise."""
        log.warning("%s %s could not start: %s", self._kind.name, job.id, error)
        message = self._kind.start_failed_message
        await self.finish_locally(job.id, LocalEnd(message=message, upstream_error=str(error)))
        return UpstreamUnavailable(message)

    # -- applying reports -----------------------------------------------------------------

    async def apply(self, job_id: str, report: R, *, webhook_id: str | None = None) -> J | None:
        """Applies what Replicate reported (a webhook, a poll, an answer) in one transaction;
        a webhook delivered before, or a report on another upstream job, changes nothing.
        None for an unknown job."""
        job, _ = await self._apply(job_id, report, webhook_id)
        return job

    async def _apply(
        self, job_id: str, report: R, webhook_id: str | None
    ) -> tuple[J | None, WebhookOutcome]:
        settle = await self._kind.prepare(job_id, report)
        async with self._uow() as uow:
            jobs = self._kind.jobs(uow)
            if webhook_id is not None and not await uow.webhook_deliveries.first_delivery(
                webhook_id
            ):
                return await jobs.get(job_id), WebhookOutcome.DUPLICATE
            job = await jobs.get(job_id, lock=True)
            if job is None:
                return None, WebhookOutcome.UNKNOWN_JOB
            if not self._same_upstream_job(job, report):
                return job, WebhookOutcome.APPLIED
            updated = await settle(uow, job, self._kind.advance(job, report, datetime.now(UTC)))
            saved = await jobs.save(updated)
            if self._kind.changed(job, updated):
                await self._kind.announce(uow, saved)
            await uow.commit()
        return saved, WebhookOutcome.APPLIED

    async def apply_webhook(self, job_id: str, reported: R, *, webhook_id: str) -> WebhookOutcome:
        """A verified webhook's report, for the job's own upstream job only. A job with none
        recorded yet adopts only one Replicate confirms is its own; anything else raises
        UnconfirmedReport."""
        async with self._uow(read_only=True) as uow:
            job = await self._kind.jobs(uow).get(job_id)
        if job is None:
            return WebhookOutcome.UNKNOWN_JOB
        upstream_id = self._kind.upstream_id(job)
        if upstream_id is None:
            confirmed = await self._kind.fetch(reported.id)
            if confirmed is not None and self._kind.is_own(job, confirmed):
                return (await self._apply(job_id, confirmed, webhook_id))[1]
        elif upstream_id == reported.id:
            return (await self._apply(job_id, reported, webhook_id))[1]
        log.warning(
            "webhook for %s %s names another %s: %s",
            self._kind.name,
            job_id,
            self._kind.upstream_name,
            reported.id,
        )
        raise UnconfirmedReport(reported.id)

    async def forget_webhooks_before(self, moment: datetime) -> None:
        async with self._uow() as uow:
            await uow.webhook_deliveries.forget_before(moment)
            await uow.commit()

    def _same_upstream_job(self, job: J, report: R) -> bool:
        upstream_id = self._kind.upstream_id(job)
        if upstream_id is None or upstream_id == report.id:
            return True
        log.warning(
            "report for %s %s ignored: %s %s runs %s",
            self._kind.upstream_name,
            report.id,
            self._kind.name,
            job.id,
            upstream_id,
        )
        return False

    # -- ending -------------------------------------------------------------------------------

    async def cancel(self, job: J) -> J:
        """Cancels the job: on Replicate once it runs there (its answer is applied), else
        here. Raises UpstreamUnavailable when Replicate does not accept it."""
        upstream_id = self._kind.upstream_id(job)
        if upstream_id is None:
            return await self.finish_locally(job.id, LocalEnd(canceled=True)) or job
        try:
            report = await self._kind.cancel(upstream_id)
        except (UpstreamUnavailable, UpstreamRejected) as error:
            # The provider's own words stay in the log: they are not the user's to read.
            log.warning("could not cancel %s %s upstream: %s", self._kind.name, job.id, error)
            raise UpstreamUnavailable(self._kind.cancel_failed_message) from error
        if not report.status.is_terminal:
            report = self._kind.as_canceled(report)
        return await self.apply(job.id, report) or job

    async def finish_locally(self, job_id: str, end: LocalEnd) -> J | None:
        """Ends the job here, unless it has ended already (then it is returned as it is)."""
        async with self._uow() as uow:
            jobs = self._kind.jobs(uow)
            job = await jobs.get(job_id, lock=True)
            if job is None or job.status.is_terminal:
                return job
            ended = await self._kind.end_locally(uow, job, end, datetime.now(UTC))
            saved = await jobs.save(ended)
            await self._kind.announce(uow, saved)
            await uow.commit()
        return saved

    async def _cancel_orphan(self, upstream_id: str) -> bool:
        """A job that ended here runs upstream: do not let it run (and bill)."""
        try:
            await self._kind.cancel(upstream_id)
        except (UpstreamUnavailable, UpstreamRejected) as error:
            log.error(
                "could not cancel orphaned %s %s: %s", self._kind.upstream_name, upstream_id, error
            )
            return False
        return True

    # -- reconciling --------------------------------------------------------------------------

    async def reconcile(
        self,
        *,
        silent_for_seconds: float,
        lease_seconds: float,
        batch: int,
    ) -> int:
        """Claims the jobs not heard of lately and brings each in step with Replicate;
        returns how many were claimed. One job's failure is logged and never stops the
        others."""
        async with self._uow() as uow:
            jobs = await self._kind.claim_stale(
                uow,
                silent_for_seconds=silent_for_seconds,
                lease_seconds=lease_seconds,
                limit=batch,
            )
            await uow.commit()
        recent = RecentJobs(self._kind, self._lost_start_pages)
        for job in jobs:
            try:
                await self.reconcile_one(job, recent)
            except (UpstreamUnavailable, UpstreamRejected) as error:
                log.warning("could not reconcile %s %s: %s", self._kind.name, job.id, error)
            except Exception:
                log.exception(
                    "reconciling %s %s failed; it is tried again later", self._kind.name, job.id
                )
        return len(jobs)

    async def reconcile_one(self, job: J, recent: "RecentJobs[J, R]") -> None:
        if self._kind.has_local_work(job):
            await self._queue_local_work(job)
            return
        upstream_id = self._kind.upstream_id(job)
        if upstream_id is not None:
            report = await self._kind.fetch(upstream_id)
            if report is None:
                gone = f"{self._kind.upstream_name} not found upstream"
                await self.finish_locally(job.id, LocalEnd(upstream_error=gone))
            else:
                await self.apply(job.id, report)
            return
        found = await recent.find(job) if self._kind.may_have_been_sent(job) else None
        if job.status.is_terminal:
            await self._cancel_found_orphan(job, found)
        elif found is not None:
            await self.apply(job.id, found)
        elif datetime.now(UTC) - job.created_at < self._start_grace:
            await self._keep_waiting(job)
        else:
            await self.finish_locally(job.id, self._kind.lost_start)

    async def _queue_local_work(self, job: J) -> None:
        async with self._uow() as uow:
            await self._kind.queue_local_work(uow, job)
            await uow.commit()

    async def _cancel_found_orphan(self, job: J, found: R | None) -> None:
        """A job that ended while its create request may have arrived: cancel what arrived,
        then record it (or that none did) so the job is not claimed for it again."""
        if found is not None and not await self._cancel_orphan(found.id):
            return  # its lease runs out, and the next round tries again
        async with self._uow() as uow:
            jobs = self._kind.jobs(uow)
            current = await jobs.get(job.id, lock=True)
            if current is not None and self._kind.upstream_id(current) is None:
                recorded = (
                    current if found is None else self._kind.with_upstream_id(current, found.id)
                )
                await jobs.save(recorded)
                await uow.commit()

    async def _keep_waiting(self, job: J) -> None:
        """Marks it heard of now (and frees its lease): it is looked for again later."""
        async with self._uow() as uow:
            jobs = self._kind.jobs(uow)
            current = await jobs.get(job.id, lock=True)
            if current is not None and not current.status.is_terminal:
                await jobs.save(current)
                await uow.commit()


class RecentJobs(Generic[J, R]):
    """Replicate's recent jobs of one kind, listed at most once per reconciler round."""

    def __init__(self, kind: JobKind[J, R], max_pages: int) -> None:
        self._kind = kind
        self._max_pages = max_pages
        self._listed: list[R] | None = None
        self._reaches_back_to: datetime | None = None

    async def find(self, job: J) -> R | None:
        """The upstream job created for this job, whose create answer never reached us."""
        earliest = job.created_at - CLOCK_SKEW
        if self._listed is None or (self._reaches_back_to or earliest) > earliest:
            self._listed = await self._kind.list_recent(
                max_pages=self._max_pages, created_after=earliest
            )
            self._reaches_back_to = earliest
        return next((found for found in self._listed if self._kind.is_own(job, found)), None)
