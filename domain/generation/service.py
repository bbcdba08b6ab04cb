"""Generating photos of a user with the user's own trained version, and keeping them."""

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from domain.allowances import Allowances, check_generation_allowance, day_start
from domain.errors import (
    ModelNotReady,
    NextStep,
    NotFound,
    UpstreamRejected,
    UpstreamUnavailable,
)
from domain.events import EventHub, generation_topic
from domain.generation.models import (
    GeneratedImage,
    Generation,
    GenerationSource,
    GenerationStatus,
    StoredOutput,
)
from domain.generation.parameters import GenerationParameters, locked_parameters, prediction_input
from domain.generation.prompts import maya_prompt, photoshoot_details
from domain.generation.styles import PhotoshootStyle, StyleCatalogue
from domain.generation.transitions import FAILED_MESSAGE, advance, changed, is_own_report
from domain.images import FetchedImage, ImageStorage, OutputFetcher, OutputGone, OutputInvalid
from domain.images import OutputUnavailable as OutputNotYetAvailable
from domain.paging import Page
from domain.ports import UnitOfWorkFactory
from domain.training.models import TrainingJob
from domain.upstream import Replicate, UnconfirmedReport, UpstreamPrediction
from domain.users.models import User, UserModel
from domain.webhook_links import WebhookKind, WebhookLinks, job_id_in

log = logging.getLogger(__name__)

WEBHOOK_EVENTS = ["start", "completed"]
EXPIRED_MESSAGE = (
    "The photos were made but expired at the provider before they could be saved. "
    "This one does not count against your allowance; please generate again."
)
NEVER_CONFIRMED = "the prediction was never confirmed"
# Replicate's clock and ours may differ a little: a lost start is looked for this much
# before its generation was recorded.
CLOCK_SKEW = timedelta(minutes=1)
START_FAILED_MESSAGE = (
    "The image provider is unavailable right now, so nothing was started and nothing "
    "counted. Try again in a minute."
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
        self._downloads: set[asyncio.Task[None]] = set()

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
        try:
            prediction = await self._replicate.create_prediction(
                version=version,
                input=prediction_input(prompt, parameters, input_names),
                webhook=self._webhook_for(generation),
                webhook_events=WEBHOOK_EVENTS,
            )
        except UpstreamUnavailable as error:
            if error.may_have_arrived:
                log.warning("generation %s may have started upstream: %s", generation.id, error)
                return generation
            await self._fail(generation.id, START_FAILED_MESSAGE, str(error))
            raise UpstreamUnavailable(START_FAILED_MESSAGE) from error
        except UpstreamRejected as error:
            await self._fail(generation.id, START_FAILED_MESSAGE, str(error))
            raise UpstreamUnavailable(START_FAILED_MESSAGE) from error
        return await self.apply(generation.id, prediction) or generation

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
            await uow.users.lock(user.id)
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

    def _webhook_for(self, generation: Generation) -> str | None:
        if self._config.webhooks is None:
            return None
        return self._config.webhooks.url_for(WebhookKind.GENERATION, generation.id)

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

    async def image(self, image_id: str) -> tuple[GeneratedImage, bytes] | None:
        """A stored image and its bytes, for a URL whose signature was checked."""
        async with self._uow(read_only=True) as uow:
            image = await uow.images.get(image_id)
        if image is None:
            return None
        content = await self._storage.read(image.storage_key)
        return (image, content) if content is not None else None

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
        async with self._uow() as uow:
            if webhook_id is not None and not await uow.webhook_deliveries.first_delivery(
                webhook_id
            ):
                return await uow.generations.get(generation_id)
            generation = await uow.generations.get(generation_id, lock=True)
            if generation is None or not _same_prediction(generation, prediction):
                return generation
            updated = advance(generation, prediction, datetime.now(UTC))
            saved = await uow.generations.save(updated)
            if changed(generation, updated):
                await uow.events.generation_changed(saved)
            await uow.commit()
        if saved.output_urls and not saved.status.is_terminal:
            self._start_download(saved.id)
        return saved

    def _start_download(self, generation_id: str) -> None:
        task = asyncio.create_task(self.store_outputs(generation_id))
        self._downloads.add(task)
        task.add_done_callback(self._downloads.discard)

    async def close(self) -> None:
        for task in list(self._downloads):
            task.cancel()
        await asyncio.gather(*self._downloads, return_exceptions=True)

    async def store_outputs(self, generation_id: str) -> None:
        """Copies every output into storage; SUCCEEDED only once all are kept."""
        async with self._uow() as uow:
            generation = await uow.generations.get(generation_id)
        if generation is None or generation.status.is_terminal or not generation.output_urls:
            return
        try:
            fetched = [
                await self._fetch(url, generation.parameters) for url in generation.output_urls
            ]
        except (OutputGone, OutputInvalid) as error:
            log.warning("outputs of generation %s lost: %s", generation_id, error)
            await self._fail(generation_id, EXPIRED_MESSAGE, str(error))
            return
        except OutputNotYetAvailable as error:
            log.info("outputs of generation %s not fetched yet: %s", generation_id, error)
            return
        keys = [
            f"{generation.user_id}/{generation.id}/{position}.{generation.parameters.output_format}"
            for position in range(len(fetched))
        ]
        for key, image in zip(keys, fetched, strict=True):
            await self._storage.save(key, image.content, image.content_type)
        await self._record_images(generation, keys, fetched)

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
            done = await uow.generations.save(
                replace(current, status=GenerationStatus.SUCCEEDED, completed_at=datetime.now(UTC))
            )
            await uow.events.generation_changed(done)
            await uow.commit()

    async def _fail(self, generation_id: str, message: str, upstream_error: str | None) -> None:
        async with self._uow() as uow:
            generation = await uow.generations.get(generation_id, lock=True)
            if generation is None or generation.status.is_terminal:
                return
            failed = await uow.generations.save(
                replace(
                    generation,
                    status=GenerationStatus.FAILED,
                    error=message,
                    upstream_error=upstream_error,
                    allowance_returned=True,
                    completed_at=datetime.now(UTC),
                )
            )
            await uow.events.generation_changed(failed)
            await uow.commit()

    # -- reconciling ----------------------------------------------------------------------

    async def reconcile(
        self, *, silent_for_seconds: float, lease_seconds: float, batch: int
    ) -> int:
        """Polls Replicate for generations not heard of lately, looks for lost starts;
        one generation's failure is logged and never stops the others."""
        async with self._uow() as uow:
            generations = await uow.generations.claim_stale(
                silent_for_seconds=silent_for_seconds, lease_seconds=lease_seconds, limit=batch
            )
            await uow.commit()
        recent = _RecentPredictions(self._replicate, self._config.lost_start_pages)
        for generation in generations:
            try:
                await self._reconcile_one(generation, recent)
            except (UpstreamUnavailable, UpstreamRejected) as error:
                log.warning("could not reconcile generation %s: %s", generation.id, error)
            except Exception:
                log.exception(
                    "reconciling generation %s failed; it is tried again later", generation.id
                )
        return len(generations)

    async def _reconcile_one(self, generation: Generation, recent: "_RecentPredictions") -> None:
        if generation.output_urls:
            await self.store_outputs(generation.id)
        elif generation.replicate_prediction_id is not None:
            prediction = await self._replicate.get_prediction(generation.replicate_prediction_id)
            if prediction is None:
                await self._fail(generation.id, FAILED_MESSAGE, "prediction not found upstream")
            else:
                await self.apply(generation.id, prediction)
        elif (found := await recent.find(generation)) is not None:
            await self.apply(generation.id, found)
        elif datetime.now(UTC) - generation.created_at >= self._config.start_grace:
            await self._fail(generation.id, FAILED_MESSAGE, NEVER_CONFIRMED)
        else:
            await self._keep_waiting(generation.id)

    async def _keep_waiting(self, generation_id: str) -> None:
        async with self._uow() as uow:
            current = await uow.generations.get(generation_id, lock=True)
            if current is not None and not current.status.is_terminal:
                await uow.generations.save(current)
                await uow.commit()

    # -- webhooks -------------------------------------------------------------------------

    async def apply_webhook(
        self, generation_id: str, reported: UpstreamPrediction, *, webhook_id: str
    ) -> Generation | None:
        """A verified webhook's report, for the generation's own prediction only. One with
        no prediction recorded yet adopts only one the provider confirms is its own;
        anything else raises UnconfirmedReport."""
        async with self._uow(read_only=True) as uow:
            generation = await uow.generations.get(generation_id)
        if generation is None:
            return None
        if generation.replicate_prediction_id is None:
            confirmed = await self._replicate.get_prediction(reported.id)
            if confirmed is not None and is_generations_prediction(generation, confirmed):
                return await self.apply(generation_id, confirmed, webhook_id=webhook_id)
        elif generation.replicate_prediction_id == reported.id:
            return await self.apply(generation_id, reported, webhook_id=webhook_id)
        log.warning(
            "webhook for generation %s names another prediction: %s", generation.id, reported.id
        )
        raise UnconfirmedReport(reported.id)


class _RecentPredictions:
    """Replicate's recent predictions, listed at most once per reconciler round."""

    def __init__(self, replicate: Replicate, max_pages: int) -> None:
        self._replicate = replicate
        self._max_pages = max_pages
        self._listed: list[UpstreamPrediction] | None = None
        self._reaches_back_to: datetime | None = None

    async def find(self, generation: Generation) -> UpstreamPrediction | None:
        """The prediction created for this generation, whose create answer never came."""
        earliest = generation.created_at - CLOCK_SKEW
        if self._listed is None or (self._reaches_back_to or earliest) > earliest:
            self._listed = await self._replicate.list_predictions(
                max_pages=self._max_pages, created_after=earliest
            )
            self._reaches_back_to = earliest
        return next(
            (found for found in self._listed if is_generations_prediction(generation, found)),
            None,
        )


def is_generations_prediction(generation: Generation, prediction: UpstreamPrediction) -> bool:
    """Whether Replicate's prediction is the one this generation created: its webhook URL
    names the generation, or it runs the generation's version with its prompt and its
    seed (drawn at random for each generation)."""
    named = job_id_in(prediction.webhook, WebhookKind.GENERATION)
    if named is not None:
        return named == generation.id
    return (
        prediction.version is not None
        and prediction.version == generation.replicate_version.rpartition(":")[2]
        and prediction.prompt == generation.prompt
        and prediction.seed == generation.parameters.seed
    )


def _same_prediction(generation: Generation, prediction: UpstreamPrediction) -> bool:
    if is_own_report(generation, prediction):
        return True
    log.warning(
        "report for prediction %s ignored: generation %s runs %s",
        prediction.id,
        generation.id,
        generation.replicate_prediction_id,
    )
    return False


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
