"""Generating photos of a user with the user's own trained version, and keeping them."""

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from domain.allowances import Allowances, check_generation_allowance, day_start
from domain.errors import AccountDeleted, BadUserInput, ModelNotReady, NextStep, NotFound
from domain.events import EventHub, generation_topic
from domain.generation.kind import GenerationKind
from domain.generation.models import (
    GeneratedImage,
    Generation,
    GenerationSource,
    GenerationStatus,
    StoredOutput,
)
from domain.generation.parameters import GenerationParameters, locked_parameters, prediction_input
from domain.generation.prompts import maya_prompt, photoshoot_details
from domain.generation.renditions import (
    RENDITION_SIZES,
    RENDITION_TYPE,
    RenditionFailed,
    make_rendition,
    rendition_key,
)
from domain.generation.styles import PhotoshootStyle, StyleCatalogue
from domain.images import (
    FetchedImage,
    ImageDelivery,
    ImageSize,
    ImageStorage,
    OutputFetcher,
    OutputGone,
    OutputInvalid,
    StorageUnavailable,
)
from domain.paging import Page
from domain.ports import UnitOfWorkFactory
from domain.training.models import TrainingJob
from domain.upstream import Replicate, UpstreamPrediction, WebhookOutcome
from domain.upstream_jobs.engine import UpstreamJobs
from domain.upstream_jobs.kind import LocalEnd
from domain.users.models import User, UserModel
from domain.webhook_links import WebhookLinks

log = logging.getLogger(__name__)

WEBHOOK_EVENTS = ["start", "completed"]
# A deleted generation counts against the daily allowance; it is remembered this long.
DELETED_GENERATIONS_KEPT_FOR = timedelta(days=2)
EXPIRED_MESSAGE = (
    "The photos were made but expired at the provider before they could be saved. "
    "This one does not count against your allowance; please generate again."
)


@dataclass(frozen=True)
class GenerationConfig:
    # Builds each generation's webhook URL (None, or no PUBLIC_BASE_URL: polling alone).
    webhooks: WebhookLinks | None = None
    allowances: Allowances = field(default_factory=Allowances)
    # A generation still without a prediction after this long was lost mid-start.
    start_grace: timedelta = timedelta(minutes=2)
    # How many pages of recent predictions (100 each) a lost start is looked for in.
    lost_start_pages: int = 3


class GenerationService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        replicate: Replicate,
        events: EventHub,
        styles: StyleCatalogue,
        storage: ImageStorage,
        fetcher: OutputFetcher,
        config: GenerationConfig,
    ) -> None:
        self._uow = uow
        self._replicate = replicate
        self._events = events
        self._styles = styles
        self._storage = storage
        self._fetcher = fetcher
        self._config = config
        self._jobs = UpstreamJobs(
            uow,
            GenerationKind(replicate),
            webhooks=config.webhooks,
            start_grace=config.start_grace,
            lost_start_pages=config.lost_start_pages,
        )

    # -- starting ------------------------------------------------------------------------

    async def generate_maya(self, user: User, prompt: str) -> Generation:
        self._replicate.require_configured()
        model = await self._ready_model(user)
        return await self._generate(
            user, model, GenerationSource.MAYA, None, maya_prompt(prompt, model.trigger_word)
        )

    async def generate_photoshoot(
        self, user: User, style_id: str, details: str | None
    ) -> Generation:
        self._replicate.require_configured()
        style = self._styles.get(style_id)
        if style is None:
            raise NotFound(
                "No such photoshoot style: pick one of the styles on offer.",
                next_step=NextStep.PICK_STYLE,
            )
        tidied = photoshoot_details(details)
        model = await self._ready_model(user)
        prompt = style.render(model.trigger_word, tidied)
        return await self._generate(user, model, GenerationSource.PHOTOSHOOT, style.id, prompt)

    def styles(self, category: str | None = None) -> list[PhotoshootStyle]:
        return self._styles.styles(category)

    def style(self, style_id: str) -> PhotoshootStyle | None:
        return self._styles.get(style_id)

    async def _ready_model(self, user: User) -> UserModel:
        """The user's own usable trained version; anything else is MODEL_NOT_READY."""
        async with self._uow(read_only=True) as uow:
            model = await uow.user_models.for_user(user.id)
            training = await uow.training_jobs.active_for_user(user.id)
        if (
            model is not None
            and model.replicate_version_id
            and model.unusable_reason is None
            and model.input_names is not None
        ):
            return model
        raise _not_ready(model, training)

    async def _generate(
        self,
        user: User,
        model: UserModel,
        source: GenerationSource,
        style_id: str | None,
        prompt: str,
    ) -> Generation:
        parameters = locked_parameters()
        version = f"{model.replicate_model_id}:{model.replicate_version_id}"
        generation = await self._record_starting(
            user, source, version, style_id, prompt, parameters
        )
        input_names = model.input_names
        if input_names is None:  # `_ready_model` refuses such a model: never so
            raise _not_ready(model, None)
        return await self._jobs.submit(
            generation,
            lambda: self._replicate.create_prediction(
                version=version,
                input=prediction_input(prompt, parameters, input_names),
                webhook=self._jobs.webhook_for(generation),
                webhook_events=WEBHOOK_EVENTS,
            ),
        )

    async def _record_starting(
        self,
        user: User,
        source: GenerationSource,
        version: str,
        style_id: str | None,
        prompt: str,
        parameters: GenerationParameters,
    ) -> Generation:
        now = datetime.now(UTC)
        async with self._uow() as uow:
            if not await uow.users.lock(user.id):
                raise AccountDeleted()
            check_generation_allowance(
                self._config.allowances,
                active=await uow.generations.count_active(user.id),
                today=await uow.generations.count_counted_since(user.id, day_start(now)),
                now=now,
            )
            generation = await uow.generations.insert(
                user_id=user.id,
                source=source,
                replicate_version=version,
                style_id=style_id,
                prompt=prompt,
                parameters=parameters,
            )
            await uow.events.generation_changed(generation)
            await uow.commit()
        return generation

    # -- reading ---------------------------------------------------------------------------

    async def get_owned(self, user: User, generation_id: str) -> Generation:
        async with self._uow(read_only=True) as uow:
            generation = await uow.generations.get_owned(user.id, generation_id)
        if generation is None:
            raise NotFound("No such generation among yours.")
        return generation

    async def page(
        self,
        user: User,
        *,
        first: int,
        after: tuple[datetime, str] | None,
        source: GenerationSource | None,
    ) -> Page[Generation]:
        async with self._uow(read_only=True) as uow:
            return await uow.generations.page(user.id, first=first, after=after, source=source)

    async def images_for(
        self, user: User, generation_ids: Sequence[str]
    ) -> dict[str, list[GeneratedImage]]:
        async with self._uow(read_only=True) as uow:
            images = await uow.images.for_generations(user.id, generation_ids)
        grouped: dict[str, list[GeneratedImage]] = {key: [] for key in generation_ids}
        for image in images:
            grouped[image.generation_id].append(image)
        return grouped

    async def select_image(self, user: User, image_id: str) -> GeneratedImage:
        async with self._uow() as uow:
            image = await uow.images.select(user.id, image_id)
            if image is None:
                raise NotFound("No such image among yours.")
            await uow.commit()
        return image

    # -- deleting -------------------------------------------------------------------------

    async def delete(self, user: User, generation_id: str) -> None:
        """Deletes one of the user's finished generations for good: its rows at once (its
        image URLs stop working), its stored images and renditions by a queued task. It
        still counts against the allowance of the day it was made."""
        async with self._uow() as uow:
            generation = await uow.generations.get_owned(user.id, generation_id)
            if generation is None:
                raise NotFound("No such generation among yours.")
            generation = await uow.generations.get(generation.id, lock=True)
            if generation is None:  # deleted by a request that ran meanwhile
                raise NotFound("No such generation among yours.")
            if not generation.status.is_terminal:
                raise BadUserInput(
                    "This generation is still running: delete it once it has finished."
                )
            still_counts = not generation.allowance_returned and generation.created_at >= (
                datetime.now(UTC) - DELETED_GENERATIONS_KEPT_FOR
            )
            await uow.generations.delete(generation, still_counts=still_counts)
            await uow.tasks.delete_stored_images(generation_key_prefix(generation))
            await uow.commit()

    async def delete_stored_images(self, key_prefix: str) -> None:
        """Deletes every stored object under the prefix (raises, to be retried, while
        the store is unreachable)."""
        deleted = await self._storage.delete_prefix(key_prefix)
        log.info("deleted %d stored objects under %s", deleted, key_prefix)

    async def forget_deleted_generations(self) -> None:
        """Forgets deleted generations once no allowance can count them any more."""
        async with self._uow() as uow:
            await uow.generations.forget_deleted_before(
                datetime.now(UTC) - DELETED_GENERATIONS_KEPT_FOR
            )
            await uow.commit()

    async def owned_by_ids(
        self, user: User, generation_ids: Sequence[str]
    ) -> dict[str, Generation]:
        """The user's own generations among `generation_ids`, by id; others' are absent."""
        async with self._uow(read_only=True) as uow:
            generations = await uow.generations.owned_by_ids(user.id, generation_ids)
        return {generation.id: generation for generation in generations}

    async def owned_images(self, user: User, image_ids: Sequence[str]) -> dict[str, GeneratedImage]:
        """The user's own images among `image_ids`, by id; others' are absent."""
        async with self._uow(read_only=True) as uow:
            images = await uow.images.owned_by_ids(user.id, image_ids)
        return {image.id: image for image in images}

    async def image(
        self, image_id: str, *, size: ImageSize = ImageSize.ORIGINAL, valid_for_seconds: int
    ) -> ImageDelivery | None:
        """How to deliver a stored image in `size`, for a URL whose signature was checked
        and stays valid that long (a store's own URL never outlives it). A rendition not
        made yet is made now; one that cannot be made is the original instead."""
        async with self._uow(read_only=True) as uow:
            image = await uow.images.get(image_id)
        if image is None:
            return None
        if size is ImageSize.ORIGINAL:
            return await self._deliver(image.storage_key, image.content_type, valid_for_seconds)
        if size in image.renditions:
            key = rendition_key(image.storage_key, size)
            delivery = await self._deliver(key, RENDITION_TYPE, valid_for_seconds)
            if delivery is not None:
                return delivery
        return await self._deliver_made_now(image, size)

    async def _deliver(
        self, key: str, content_type: str, valid_for_seconds: int
    ) -> ImageDelivery | None:
        url = await self._storage.presigned_url(key, expires_in_seconds=valid_for_seconds)
        if url is not None:
            return ImageDelivery(content_type, redirect_to=url)
        content = await self._storage.read(key)
        return ImageDelivery(content_type, content=content) if content is not None else None

    async def _deliver_made_now(
        self, image: GeneratedImage, size: ImageSize
    ) -> ImageDelivery | None:
        original = await self._storage.read(image.storage_key)
        if original is None:
            return None
        content = await self._render(image, original, size)
        if content is None:
            return ImageDelivery(image.content_type, content=original)
        try:
            await self._keep_rendition(image, size, content)
        except StorageUnavailable as error:  # shown all the same; kept on a later request
            log.warning("the %s rendition of image %s not kept: %s", size.value, image.id, error)
        return ImageDelivery(RENDITION_TYPE, content=content)

    async def follow(self, user: User, generation_id: str) -> AsyncIterator[Generation]:
        """The generation now, then on every change, until it ends."""
        generation = await self.get_owned(user, generation_id)
        async with self._events.follow(generation_topic(generation.id)) as notices:
            generation = await self.get_owned(user, generation.id)
            yield generation
            while not generation.status.is_terminal:
                await notices.get()
                latest = await self.get_owned(user, generation.id)
                if latest != generation:
                    yield latest
                generation = latest

    # -- keeping in step with Replicate ------------------------------------------------------

    async def apply(
        self, generation_id: str, prediction: UpstreamPrediction, *, webhook_id: str | None = None
    ) -> Generation | None:
        """Applies what Replicate reported; outputs to store queue their download in the
        same transaction. None for an unknown generation."""
        return await self._jobs.apply(generation_id, prediction, webhook_id=webhook_id)

    async def apply_webhook(
        self, generation_id: str, reported: UpstreamPrediction, *, webhook_id: str
    ) -> WebhookOutcome:
        return await self._jobs.apply_webhook(generation_id, reported, webhook_id=webhook_id)

    async def reconcile(
        self, *, silent_for_seconds: float, lease_seconds: float, batch: int
    ) -> int:
        """Polls Replicate for generations not heard of lately, looks for lost starts,
        queues again the downloads of outputs not stored yet; returns how many were checked."""
        return await self._jobs.reconcile(
            silent_for_seconds=silent_for_seconds,
            lease_seconds=lease_seconds,
            batch=batch,
        )

    # -- storing outputs ------------------------------------------------------------------

    async def store_outputs(self, generation_id: str) -> None:
        """Copies every output into storage; SUCCEEDED only once all are kept. Outputs
        gone or invalid fail the generation (not counted); OutputUnavailable (not
        fetched yet) is raised with nothing changed, for the queue to try again later."""
        async with self._uow(read_only=True) as uow:
            generation = await uow.generations.get(generation_id)
        if generation is None or generation.status.is_terminal or not generation.output_urls:
            return
        try:
            fetched = [
                await self._fetch(url, generation.parameters) for url in generation.output_urls
            ]
        except (OutputGone, OutputInvalid) as error:
            log.warning("outputs of generation %s lost: %s", generation_id, error)
            expired = LocalEnd(message=EXPIRED_MESSAGE, upstream_error=str(error))
            await self._jobs.finish_locally(generation_id, expired)
            return
        prefix = generation_key_prefix(generation)
        keys = [
            f"{prefix}{position}.{generation.parameters.output_format}"
            for position in range(len(fetched))
        ]
        for key, image in zip(keys, fetched, strict=True):
            await self._storage.save(key, image.content, image.content_type)
        await self._record_images(generation, keys, fetched)

    async def make_renditions(self, generation_id: str) -> None:
        """Makes and stores the generation's missing gallery renditions. An original that
        cannot be decoded is skipped (its URLs serve the original); StorageUnavailable is
        raised, the renditions made so far kept, for the queue to try again later."""
        async with self._uow(read_only=True) as uow:
            images = await uow.images.for_generation(generation_id)
        for image in images:
            missing = [size for size in RENDITION_SIZES if size not in image.renditions]
            if missing:
                await self._render_missing(image, missing)

    async def _render_missing(self, image: GeneratedImage, sizes: list[ImageSize]) -> None:
        original = await self._storage.read(image.storage_key)
        if original is None:
            log.warning("image %s has no stored original to render", image.id)
            return
        for size in sizes:
            content = await self._render(image, original, size)
            if content is not None:
                await self._keep_rendition(image, size, content)

    async def _render(
        self, image: GeneratedImage, original: bytes, size: ImageSize
    ) -> bytes | None:
        """The rendition's bytes; None when `original` cannot be decoded."""
        try:
            # CPU-bound: off the event loop. A thread, not the selfie process pool: a render
            # is tens of milliseconds, Pillow releases the GIL while resizing and encoding,
            # and the bytes need not be copied to another process and back.
            return await asyncio.to_thread(make_rendition, original, size)
        except RenditionFailed as error:
            log.warning("no %s rendition of image %s: %s", size.value, image.id, error)
            return None

    async def _keep_rendition(self, image: GeneratedImage, size: ImageSize, content: bytes) -> None:
        """Stores the rendition beside its original, then records it."""
        await self._storage.save(rendition_key(image.storage_key, size), content, RENDITION_TYPE)
        async with self._uow() as uow:
            await uow.images.add_rendition(image.id, size)
            await uow.commit()

    async def _fetch(self, url: str, parameters: GenerationParameters) -> FetchedImage:
        return await self._fetcher.fetch(url, expected_type=parameters.content_type)

    async def _record_images(
        self, generation: Generation, keys: list[str], fetched: list[FetchedImage]
    ) -> None:
        async with self._uow() as uow:
            current = await uow.generations.get(generation.id, lock=True)
            if current is None or current.status.is_terminal:
                return
            await uow.images.add_missing(
                generation_id=generation.id,
                user_id=generation.user_id,
                images=[
                    StoredOutput(position, key, image.content_type, image.width, image.height)
                    for position, (key, image) in enumerate(zip(keys, fetched, strict=True))
                ],
            )
            await uow.tasks.make_renditions(generation.id)
            done = await uow.generations.save(
                replace(current, status=GenerationStatus.SUCCEEDED, completed_at=datetime.now(UTC))
            )
            await uow.events.generation_changed(done)
            await uow.commit()


def _not_ready(model: UserModel | None, training: TrainingJob | None) -> ModelNotReady:
    if training is not None:
        return ModelNotReady(
            f"Your model is still training ({round(training.progress * 100)}% done). "
            "You can generate photos as soon as it is ready.",
            next_step=NextStep.FOLLOW_TRAINING,
        )
    if model is None:
        return ModelNotReady(
            "You have no model yet: upload 10-30 selfies to train yours.",
            next_step=NextStep.TRAIN,
        )
    if model.unusable_reason:
        return ModelNotReady(model.unusable_reason, next_step=NextStep.TRAIN)
    return ModelNotReady(
        "Your last training did not finish, so you have no model yet: upload your selfies again.",
        next_step=NextStep.TRAIN,
    )


def generation_key_prefix(generation: Generation) -> str:
    """Its stored images and their renditions are under this key prefix."""
    return f"{generation.user_id}/{generation.id}/"
