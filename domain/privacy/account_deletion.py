"""Deleting an account: the user's rows at once, then what is held elsewhere, step by step.

The mutation removes every row of the user in one transaction (their data is unreachable
from its answer on) and records what remains upstream and in storage. A queued task then
runs the steps of `DeletionStep` in order, recording each one done, so that a restart or
a second worker picks up where the last stopped and no step is done twice. Every step is
idempotent anyway: the provider's 404 counts as deleted.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import AccountDeleted, BadUserInput, UpstreamRejected, UpstreamUnavailable
from domain.images import ImageStorage, StorageUnavailable
from domain.ports import UnitOfWork, UnitOfWorkFactory
from domain.privacy.models import AccountDeletion, DeletionStep
from domain.upstream import Replicate
from domain.users.models import User

log = logging.getLogger(__name__)

CONFIRMATION_MISMATCH = (
    "To delete your account, confirm with your own account id (`me.id`). Nothing was deleted."
)


class DeletionStepFailed(Exception):
    """A step could not finish; the task is retried with backoff."""


@dataclass(frozen=True)
class _Leftovers:
    replicate_model_id: str | None
    training_ids: list[str]
    prediction_ids: list[str]
    file_ids: list[str]


class AccountDeletionService:
    def __init__(self, uow: UnitOfWorkFactory, replicate: Replicate, storage: ImageStorage) -> None:
        self._uow = uow
        self._replicate = replicate
        self._storage = storage

    async def delete_account(self, user: User, confirm_user_id: str | None) -> None:
        """Removes the user's rows now and queues removing the rest; `confirm_user_id`
        must be the user's own id."""
        if confirm_user_id != user.id:
            raise BadUserInput(CONFIRMATION_MISMATCH)
        async with self._uow() as uow:
            if not await uow.users.lock(user.id):
                raise AccountDeleted()
            leftovers = await _leftovers(uow, user.id)
            deletion = await uow.accounts.insert_deletion(
                former_user_id=user.id,
                replicate_model_id=leftovers.replicate_model_id,
                training_ids=leftovers.training_ids,
                prediction_ids=leftovers.prediction_ids,
                file_ids=leftovers.file_ids,
            )
            await uow.accounts.erase_user(user.id)
            await uow.tasks.delete_account(deletion.id)
            await uow.commit()
        log.info("account %s deleted; its leftovers go by deletion %s", user.id, deletion.id)

    async def run(self, deletion_id: str) -> None:
        """Runs the deletion's steps left, in order; raises DeletionStepFailed (after
        recording why) when one cannot finish now."""
        async with self._uow(read_only=True) as uow:
            deletion = await uow.accounts.get_deletion(deletion_id)
        if deletion is None:
            return  # finished already
        for step in deletion.steps_left:
            try:
                await self._run_step(deletion, step)
            except (UpstreamUnavailable, UpstreamRejected, StorageUnavailable) as error:
                await self._record_failure(deletion, step, error)
                raise DeletionStepFailed(f"{step.value}: {error}") from error
            await self._record_done(deletion, step)
        async with self._uow() as uow:
            await uow.accounts.finish_deletion(deletion.id)
            await uow.commit()
        log.info("account deletion %s finished", deletion.id)

    async def requeue_unfinished(self, *, idle_seconds: float) -> int:
        """Queues again the deletions nothing has moved for that long (a task held after
        its last attempt, say): a deletion is never dropped."""
        older_than = datetime.now(UTC) - timedelta(seconds=idle_seconds)
        async with self._uow() as uow:
            unfinished = await uow.accounts.unfinished_deletions(older_than=older_than)
            for deletion in unfinished:
                await uow.tasks.delete_account(deletion.id)
            await uow.commit()
        return len(unfinished)

    async def _run_step(self, deletion: AccountDeletion, step: DeletionStep) -> None:
        if step is DeletionStep.CANCEL_WORK:
            await self._cancel_work(deletion)
        elif step is DeletionStep.DELETE_MODEL:
            await self._delete_model(deletion)
        elif step is DeletionStep.DELETE_FILES:
            for file_id in deletion.file_ids:
                await self._replicate.delete_file(file_id)
        elif step is DeletionStep.DELETE_STORED_IMAGES:
            await self._storage.delete_prefix(deletion.storage_prefix)

    async def _cancel_work(self, deletion: AccountDeletion) -> None:
        """Running trainings and predictions are canceled; one the provider will not
        cancel (it has ended, or is unknown) is left to the model's deletion."""
        for training_id in deletion.training_ids:
            try:
                await self._replicate.cancel_training(training_id)
            except UpstreamRejected as error:
                log.info(
                    "deletion %s: training %s not canceled: %s", deletion.id, training_id, error
                )
        for prediction_id in deletion.prediction_ids:
            try:
                await self._replicate.cancel_prediction(prediction_id)
            except UpstreamRejected as error:
                log.info(
                    "deletion %s: prediction %s not canceled: %s", deletion.id, prediction_id, error
                )

    async def _delete_model(self, deletion: AccountDeletion) -> None:
        """Every version (the provider deletes their predictions and outputs with them),
        then the model, which the provider refuses while any version remains."""
        if deletion.replicate_model_id is None:
            return
        owner, name = deletion.replicate_model_id.split("/", 1)
        versions = await self._replicate.list_model_versions(owner, name)
        if versions is None:
            return  # never created upstream, or deleted by an earlier attempt
        for version_id in versions:
            try:
                await self._replicate.delete_model_version(owner, name, version_id)
            except UpstreamRejected as error:
                log.error(
                    "deletion %s: the provider refuses to delete version %s of %s: %s; "
                    "it is tried again later (an operator may need to look)",
                    deletion.id,
                    version_id,
                    deletion.replicate_model_id,
                    error,
                )
                raise
        await self._replicate.delete_model(owner, name)

    async def _record_done(self, deletion: AccountDeletion, step: DeletionStep) -> None:
        async with self._uow() as uow:
            newly_done = await uow.accounts.step_done(deletion.id, step)
            if newly_done and step is DeletionStep.DELETE_MODEL and deletion.replicate_model_id:
                await uow.owners.release_model_slot(deletion.replicate_model_id.split("/", 1)[0])
            await uow.commit()

    async def _record_failure(
        self, deletion: AccountDeletion, step: DeletionStep, error: Exception
    ) -> None:
        log.warning("deletion %s: %s failed, retried later: %s", deletion.id, step.value, error)
        async with self._uow() as uow:
            await uow.accounts.step_failed(deletion.id, f"{step.value}: {error}")
            await uow.commit()


async def _leftovers(uow: UnitOfWork, user_id: str) -> _Leftovers:
    model = await uow.user_models.for_user(user_id, lock=True)
    trainings = await uow.training_jobs.all_for_user(user_id)
    generations = await uow.generations.active_for_user(user_id)
    return _Leftovers(
        replicate_model_id=model.replicate_model_id if model else None,
        training_ids=[
            job.replicate_training_id
            for job in trainings
            if job.replicate_training_id is not None and not job.status.is_terminal
        ],
        prediction_ids=[
            generation.replicate_prediction_id
            for generation in generations
            if generation.replicate_prediction_id is not None
        ],
        file_ids=[job.upload_file_id for job in trainings if job.upload_file_id is not None],
    )
