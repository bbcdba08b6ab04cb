"""What Replicate's workers do to trainings and predictions, driven by the test."""

import random
import secrets
from collections.abc import Sequence

from tests.fake_replicate import images, trainer_logs
from tests.fake_replicate.records import Job, JobKind, Version, utcnow
from tests.fake_replicate.store import Store

DEFAULT_TRAINING_ERROR = "CUDA out of memory"
DEFAULT_PREDICTION_ERROR = "NSFW content detected. Try running it again, or try a different prompt."
DESTINATION_DELETED = "The destination model was deleted while the training ran"


class Lifecycle(Store):
    # Trainings

    async def start_processing(self, training_id: str) -> None:
        """starting → processing: `started_at`, the trainer's setup logs, a `logs` webhook.

        A training whose `input_images` is not a zip of images fails here, as the real one does.
        """
        self._begin(self._live(training_id, "training"))

    async def advance(self, training_id: str, step: int, total: int | None = None) -> None:
        """Appends the training loop's bar at `step` of `total` (default: input `steps`)."""
        job = self._live(training_id, "training")
        self._begin(job)
        job.total = total or job.total
        total = self._total_steps(job)
        job.step = max(0, min(step, total))
        job.log(trainer_logs.training_bar(job.step, total, job.id))
        self._notify(job, "logs")

    async def succeed(self, training_id: str) -> str:
        """Finishes the training, registers its version on the destination; the version id.

        When the destination was deleted meanwhile, the training fails instead (ValueError).
        """
        job = self._live(training_id, "training")
        self._begin(job)
        if job.destination not in self.models:
            self._complete(job, "failed", DESTINATION_DELETED)
            raise ValueError(f"training {job.id} failed: {DESTINATION_DELETED}")
        total = self._total_steps(job)
        job.step = total
        job.log(*trainer_logs.final_lines(total, job.id))
        version = self._register_version(job)
        job.output = {
            "version": f"{version.model}:{version.id}",
            "weights": f"{self.origin}/delivery/weights/{job.id}.tar",
        }
        self._complete(job, "succeeded")
        return version.id

    async def fail(self, training_id: str, error: str = DEFAULT_TRAINING_ERROR) -> None:
        job = self._live(training_id, "training")
        try:
            self._begin(job)
        except ValueError:
            return  # it has failed already, for its input
        job.log(*trainer_logs.failure_lines(error))
        self._complete(job, "failed", error)

    async def play(self, training_id: str, steps: Sequence[int] | None = None) -> str:
        """start_processing, advance through `steps` (default: quarters), succeed."""
        await self.start_processing(training_id)
        total = self._total_steps(self._live(training_id, "training"))
        for step in steps if steps is not None else [total // 4, total // 2, 3 * total // 4]:
            await self.advance(training_id, step)
        return await self.succeed(training_id)

    async def cancel(self, job_id: str) -> None:
        """What `POST .../cancel` does, for a training or a prediction."""
        job = self.jobs[job_id]
        self.cancel_job(job.kind, job_id)

    # Predictions

    async def start_prediction(self, prediction_id: str) -> None:
        self._begin(self._live(prediction_id, "prediction"))

    async def succeed_prediction(
        self, prediction_id: str, outputs: Sequence[str] | None = None
    ) -> None:
        """`output`: the given URLs, or `num_outputs` images served by the fake."""
        job = self._live(prediction_id, "prediction")
        self._begin(job)
        steps = int(job.input.get("num_inference_steps", 28))
        job.log(trainer_logs.tqdm_line("", steps, steps, 1 / 8.12).removeprefix(": "))
        job.output = list(outputs) if outputs is not None else self._output_urls(job)
        self._notify(job, "output")
        self._complete(job, "succeeded")

    async def fail_prediction(
        self,
        prediction_id: str,
        error: str = DEFAULT_PREDICTION_ERROR,
        *,
        before_start: bool = False,
    ) -> None:
        """Fails it after it ran (billed, as the safety checker's NSFW failure is), or
        `before_start`: still `starting`, with no `started_at` (nothing ran)."""
        job = self._live(prediction_id, "prediction")
        if not before_start:
            self._begin(job)
        self._complete(job, "failed", error)

    async def expire_outputs(self, prediction_id: str) -> None:
        """What Replicate does an hour later: the files answer 404, the data is removed."""
        job = self._find(prediction_id, "prediction")
        job.output = None
        job.input = {}
        job.logs = ""
        job.data_removed = True

    async def expire_file(self, file_id: str) -> None:
        """What Replicate does 24 hours after an upload."""
        self.files[file_id].expired = True

    # Helpers

    def _find(self, job_id: str, kind: JobKind) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.kind != kind:
            raise KeyError(f"the fake has no {kind} {job_id!r}")
        return job

    def _live(self, job_id: str, kind: JobKind) -> Job:
        job = self._find(job_id, kind)
        if job.terminal:
            raise ValueError(f"{kind} {job_id} is already {job.status}")
        return job

    def _begin(self, job: Job) -> None:
        """starting → processing; ValueError when the training fails right away (bad zip)."""
        if job.status != "starting":
            return
        job.status = "processing"
        job.started_at = utcnow()
        if job.kind == "training":
            self._begin_training(job)
        else:
            seed = job.input.get("seed", random.Random(job.id).randrange(65536))
            job.log(f"Using seed: {seed}", "Loaded LoRAs in 1.52s")
            self._notify(job, "logs")

    def _begin_training(self, job: Job) -> None:
        stored = self.file_from_url(str(job.input["input_images"]))
        try:
            dataset = trainer_logs.read_dataset(stored.content if stored else b"")
        except ValueError as exc:
            job.log("Downloading input_images...", str(exc))
            self._complete(job, "failed", str(exc))
            raise ValueError(f"training {job.id} failed at start: {exc}") from exc
        job.log(*trainer_logs.setup_lines(self._total_steps(job), dataset))
        self._notify(job, "logs")

    def _complete(self, job: Job, status: str, error: str | None = None) -> None:
        now = utcnow()
        job.status = status
        job.error = error
        job.completed_at = now
        started = job.started_at or now
        job.metrics = {
            "predict_time": (now - started).total_seconds(),
            "total_time": (now - job.created_at).total_seconds(),
        }
        job.done.set()
        self._notify(job, "completed")

    @staticmethod
    def _total_steps(job: Job) -> int:
        steps = job.total or job.input.get("steps", 1000)
        return steps if isinstance(steps, int) and steps > 0 else 1000

    def _register_version(self, job: Job) -> Version:
        assert job.destination is not None
        version = Version(
            secrets.token_hex(32),
            job.destination,
            utcnow(),
            training_id=job.id,
            seq=next(self._sequence),
        )
        self.models[job.destination].versions.append(version)
        self.versions[version.id] = version
        return version

    def _output_urls(self, job: Job) -> list[str]:
        count = job.input.get("num_outputs", 1)
        extension = images.extension(job.input)
        base = f"{self.origin}/delivery/{job.id}"
        return [f"{base}/out-{index}.{extension}" for index in range(count)]
