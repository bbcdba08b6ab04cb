"""The fake Replicate account: its models, files, versions, trainings and predictions.

The operations behind the HTTP API live here and raise `Problem` for error answers;
state changes that Replicate announces by webhook go through `_notify`. Lists are pages
of `page_size`, newest first, with opaque `next`/`previous` cursors.
"""

import base64
import hashlib
import itertools
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from tests.fake_replicate import schemas
from tests.fake_replicate.records import (
    TRAINER_MODEL,
    TRAINER_VERSION,
    WEBHOOK_EVENTS,
    Job,
    JobKind,
    Model,
    Problem,
    StoredFile,
    Version,
    iso,
    new_id,
    utcnow,
)

MODEL_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")
HARDWARE = frozenset(
    {
        "cpu",
        "gpu-t4",
        "gpu-l40s",
        "gpu-l40s-2x",
        "gpu-a40-small",
        "gpu-a40-large",
        "gpu-a100-large",
        "gpu-a100-large-2x",
        "gpu-h100",
    }
)
MISSING_DESTINATION = "The specified training destination does not exist"
INVALID_VERSION = "Invalid version or not permitted"
MODEL_HAS_VERSIONS = "This model has versions. Delete them before deleting the model."
NOT_YOURS_TO_DELETE = "You can only delete private models, and their versions, that you own."


class _Sequenced(Protocol):
    seq: int


_Item = TypeVar("_Item", bound=_Sequenced)


def _invalid(field: str, description: str) -> Problem:
    return Problem(
        422,
        "Input validation failed",
        f"- {field}: {description}\n",
        invalid_fields=[{"type": "invalid", "field": field, "description": description}],
    )


def _required(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _invalid(key, f"{key} is required and must be a non-empty string")
    return value


def _optional(body: dict[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else _required(body, key)


class Store:
    def __init__(self, *, owners: set[str], page_size: int) -> None:
        self.origin = "http://127.0.0.1"
        self.owners = owners
        self.max_models_per_owner = 1000
        self.page_size = page_size
        self.guidance_name = "guidance_scale"
        self.drop_version_inputs: set[str] = set()
        self.inline_enums = False
        self.max_file_size = 100 * 1024 * 1024
        self.models: dict[str, Model] = {}
        self.taken_model_names: set[str] = set()
        self.files: dict[str, StoredFile] = {}
        self.versions: dict[str, Version] = {}
        self.jobs: dict[str, Job] = {}
        self._sequence = itertools.count(1)
        self._add_trainer()

    def _notify(self, job: Job, event: str) -> None:
        """Announces a state change (webhook); the fake overrides this."""

    # Models and versions

    def _add_trainer(self) -> None:
        owner, name = TRAINER_MODEL.split("/")
        trainer = Model(owner, name, "FLUX.1-dev LoRA trainer", "public", "gpu-h100", utcnow())
        version = Version(
            TRAINER_VERSION,
            TRAINER_MODEL,
            utcnow(),
            schemas.trainer_schema(),
            seq=next(self._sequence),
        )
        trainer.versions.append(version)
        self.models[TRAINER_MODEL] = trainer
        self.versions[version.id] = version

    def create_model(self, body: dict[str, Any]) -> Model:
        owner, name = _required(body, "owner"), _required(body, "name")
        visibility = body.get("visibility")
        hardware = body.get("hardware")
        if visibility not in ("public", "private"):
            raise _invalid("visibility", "visibility must be 'public' or 'private'")
        if hardware not in HARDWARE:
            raise _invalid("hardware", f"hardware must be one of {sorted(HARDWARE)}")
        if not MODEL_NAME.match(name):
            raise _invalid(
                "name",
                "Model names may contain only lowercase letters, digits, dashes, underscores "
                "and periods, and must start and end with a letter or digit",
            )
        self._check_owner(owner)
        full_name = f"{owner}/{name}"
        if full_name in self.taken_model_names:
            raise Problem(409, "Conflict", f"A model with the name {full_name} already exists.")
        self._check_model_limit(owner)
        description = body.get("description") or ""
        model = Model(owner, name, str(description), visibility, hardware, utcnow())
        self.models[full_name] = model
        self.taken_model_names.add(full_name)
        return model

    def _check_owner(self, owner: str) -> None:
        if owner not in self.owners:
            raise Problem(
                403, "Forbidden", f"You do not have permission to create models for {owner}."
            )

    def _check_model_limit(self, owner: str) -> None:
        """Counts the models that exist: a deleted one frees its slot (not its name)."""
        owned = sum(1 for model in self.models.values() if model.owner == owner)
        if owned >= self.max_models_per_owner:
            raise Problem(
                403,
                "Model limit reached",
                f"model limit reached: {owner} already has {owned} models "
                f"(the limit is {self.max_models_per_owner})",
            )

    def get_model(self, owner: str, name: str) -> Model:
        model = self.models.get(f"{owner}/{name}")
        if model is None or (model.visibility == "private" and owner not in self.owners):
            raise Problem(404, "Not found", "Model not found")
        return model

    def model_json(self, model: Model) -> dict[str, Any]:
        latest = self.version_json(model.versions[-1]) if model.versions else None
        return model.to_json(latest)

    def version_schema(self, version: Version) -> dict[str, Any]:
        if version.fixed_schema is not None:
            return version.fixed_schema
        return schemas.lora_version_schema(
            guidance_name=self.guidance_name,
            drop=self.drop_version_inputs,
            inline_enums=self.inline_enums,
        )

    def version_json(self, version: Version) -> dict[str, Any]:
        return {
            "id": version.id,
            "created_at": iso(version.created_at),
            "cog_version": "0.9.25",
            "openapi_schema": self.version_schema(version),
        }

    def get_version(self, owner: str, name: str, version_id: str) -> Version:
        model = self.get_model(owner, name)
        for version in model.versions:
            if version.id == version_id:
                return version
        raise Problem(404, "Not found", "Version not found")

    def version_page(self, owner: str, name: str, cursor: str | None) -> dict[str, Any]:
        model = self.get_model(owner, name)
        return self._paged(
            f"/v1/models/{owner}/{name}/versions",
            _newest_first(model.versions),
            cursor,
            self.version_json,
        )

    def delete_version_of(self, owner: str, name: str, version_id: str) -> None:
        """DELETE of a version: it goes with every prediction made with it."""
        self._check_deletable(self.get_model(owner, name))
        self.remove_version(self.get_version(owner, name, version_id))

    def remove_version(self, version: Version) -> None:
        self.models[version.model].versions.remove(version)
        del self.versions[version.id]
        for job in list(self.jobs.values()):
            if job.kind == "prediction" and job.version == version.id:
                del self.jobs[job.id]

    def delete_model_named(self, owner: str, name: str) -> None:
        """DELETE of a model: refused while it has versions; its name stays taken."""
        model = self.get_model(owner, name)
        self._check_deletable(model)
        if model.versions:
            raise Problem(409, "Conflict", MODEL_HAS_VERSIONS)
        del self.models[model.full_name]

    def _check_deletable(self, model: Model) -> None:
        if model.visibility != "private" or model.owner not in self.owners:
            raise Problem(403, "Forbidden", NOT_YOURS_TO_DELETE)

    # Files

    def store_file(
        self, content: bytes, name: str, content_type: str, metadata: dict[str, Any]
    ) -> StoredFile:
        if len(content) > self.max_file_size:
            raise Problem(413, "Payload too large", "The file is larger than the maximum size")
        now = utcnow()
        stored = StoredFile(
            id=new_id(),
            name=name,
            content_type=content_type,
            content=content,
            metadata=metadata,
            created_at=now,
            expires_at=now + timedelta(hours=24),
            etag=hashlib.md5(content).hexdigest(),  # noqa: S324 (an etag, not security)
            checksums={
                "sha256": hashlib.sha256(content).hexdigest(),
                "md5": hashlib.md5(content).hexdigest(),  # noqa: S324
            },
            seq=next(self._sequence),
        )
        self.files[stored.id] = stored
        return stored

    def get_file(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None or stored.expired:
            raise Problem(404, "Not found", "File not found")
        return stored

    def delete_file(self, file_id: str) -> None:
        """DELETE of a file: its id and URL answer 404 from now on."""
        self.get_file(file_id)
        del self.files[file_id]

    def file_page(self, cursor: str | None) -> dict[str, Any]:
        live = [stored for stored in self.files.values() if not stored.expired]
        return self._paged(
            "/v1/files", _newest_first(live), cursor, lambda f: f.to_json(self.origin)
        )

    def file_from_url(self, url: str) -> StoredFile | None:
        prefix = f"{self.origin}/v1/files/"
        if not url.startswith(prefix):
            return None
        stored = self.files.get(url.removeprefix(prefix))
        return None if stored is None or stored.expired else stored

    # Trainings and predictions

    def create_training(self, owner: str, name: str, version_id: str, body: dict[str, Any]) -> Job:
        if f"{owner}/{name}" != TRAINER_MODEL or version_id != TRAINER_VERSION:
            raise Problem(404, "Not found", "Model version not found")
        destination = self._destination(body)
        webhook, events = self._webhook(body)
        training_input = self._input(body, self.versions[TRAINER_VERSION])
        images = training_input["input_images"]
        if not isinstance(images, str) or self.file_from_url(images) is None:
            raise _invalid(
                "input.input_images", "must be the URL of a file uploaded with /v1/files"
            )
        job = self._new_job("training", TRAINER_MODEL, TRAINER_VERSION, training_input)
        job.webhook, job.events, job.destination = webhook, events, destination
        self._notify(job, "start")
        return job

    def _destination(self, body: dict[str, Any]) -> str:
        destination = _required(body, "destination")
        if destination.count("/") != 1:
            raise _invalid("destination", "destination must be 'owner/name'")
        model = self.models.get(destination)
        if model is None:
            raise Problem(404, "Not found", MISSING_DESTINATION)
        if model.owner not in self.owners:
            raise Problem(403, "Forbidden", "You do not have permission to push to this model")
        return destination

    def _webhook(self, body: dict[str, Any]) -> tuple[str | None, frozenset[str]]:
        webhook = _optional(body, "webhook")
        if webhook is not None and not webhook.startswith(("http://", "https://")):
            raise _invalid("webhook", "webhook must be an http(s) URL")
        events = body.get("webhook_events_filter", list(WEBHOOK_EVENTS))
        if not isinstance(events, list) or not all(event in WEBHOOK_EVENTS for event in events):
            raise _invalid("webhook_events_filter", f"events must be among {list(WEBHOOK_EVENTS)}")
        return webhook, frozenset(events)

    def _input(self, body: dict[str, Any], version: Version) -> dict[str, Any]:
        given = body.get("input")
        if not isinstance(given, dict):
            raise _invalid("input", "input must be an object")
        errors = schemas.validate_input(self.version_schema(version), given)
        if errors:
            detail = "".join(f"- {error['field']}: {error['description']}\n" for error in errors)
            raise Problem(422, "Input validation failed", detail, invalid_fields=errors)
        return dict(given)

    def _new_job(self, kind: JobKind, model: str, version: str, given: dict[str, Any]) -> Job:
        job = Job(
            kind=kind,
            id=new_id(),
            seq=next(self._sequence),
            model=model,
            version=version,
            input=given,
            webhook=None,
            events=frozenset(),
            created_at=utcnow(),
        )
        self.jobs[job.id] = job
        return job

    def create_prediction(self, body: dict[str, Any]) -> Job:
        version = self._prediction_version(body.get("version"))
        webhook, events = self._webhook(body)
        prediction_input = self._input(body, version)
        job = self._new_job("prediction", version.model, version.id, prediction_input)
        job.webhook, job.events = webhook, events
        self._notify(job, "start")
        return job

    def _prediction_version(self, reference: Any) -> Version:
        if not isinstance(reference, str):
            raise Problem(422, INVALID_VERSION, INVALID_VERSION)
        model_name, _, version_id = reference.rpartition(":")
        version = self.versions.get(version_id)
        if version is None or version.fixed_schema is not None:
            raise Problem(422, INVALID_VERSION, INVALID_VERSION)
        if model_name and model_name != version.model:
            raise Problem(422, INVALID_VERSION, INVALID_VERSION)
        return version

    def get_job(self, kind: JobKind, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.kind != kind:
            raise Problem(404, "Not found", f"The {kind} was not found")
        return job

    def cancel_job(self, kind: JobKind, job_id: str) -> Job:
        job = self.get_job(kind, job_id)
        if not job.terminal:
            job.status = "canceled"
            job.completed_at = utcnow()
            job.done.set()
            self._notify(job, "completed")
        return job

    def page(self, kind: JobKind, cursor: str | None) -> dict[str, Any]:
        jobs = _newest_first([job for job in self.jobs.values() if job.kind == kind])
        return self._paged(f"/v1/{kind}s", jobs, cursor, lambda job: job.to_json(self.origin))

    def _paged(
        self,
        path: str,
        newest_first: Sequence[_Item],
        cursor: str | None,
        to_json: Callable[[_Item], dict[str, Any]],
    ) -> dict[str, Any]:
        """One page of the list at `path`; `next`/`previous` carry opaque position cursors."""
        chunk = self._chunk(newest_first, cursor)
        older = bool(chunk) and newest_first[-1].seq < chunk[-1].seq
        newer = bool(chunk) and newest_first[0].seq > chunk[0].seq
        collection = f"{self.origin}{path}"
        return {
            "next": self._page_url(collection, "p", chunk[-1].seq) if older else None,
            "previous": self._page_url(collection, "r", chunk[0].seq) if newer else None,
            "results": [to_json(item) for item in chunk],
        }

    def _chunk(self, newest_first: Sequence[_Item], cursor: str | None) -> list[_Item]:
        if cursor is None:
            return list(newest_first[: self.page_size])
        try:
            direction, _, position = base64.urlsafe_b64decode(cursor).decode().partition("=")
            seq = int(position)
        except ValueError as exc:
            raise Problem(400, "Bad request", "Invalid cursor") from exc
        if direction == "p":
            return [item for item in newest_first if item.seq < seq][: self.page_size]
        if direction == "r":
            return [item for item in newest_first if item.seq > seq][-self.page_size :]
        raise Problem(400, "Bad request", "Invalid cursor")

    @staticmethod
    def _page_url(collection: str, direction: str, seq: int) -> str:
        cursor = base64.urlsafe_b64encode(f"{direction}={seq}".encode()).decode()
        return f"{collection}?{urlencode({'cursor': cursor})}"


def _newest_first(items: Sequence[_Item]) -> list[_Item]:
    return sorted(items, key=lambda item: item.seq, reverse=True)
