"""Log lines shaped like replicate/flux-fine-tuner's (ai-toolkit under cog, tqdm bars)."""

import io
import random
import zipfile
from dataclasses import dataclass

BAR_WIDTH = 10
BAR_CHARS = " ▏▎▍▌▋▊▉█"
SECONDS_PER_STEP = 1.05
LEARNING_RATE = "4.0e-04"
TRAIN_BAR = "flux_train_replicate"


def tqdm_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """tqdm's unicode bar: full blocks, one partial block, then spaces."""
    steps_per_cell = len(BAR_CHARS) - 1
    full, partial = divmod(int(fraction * width * steps_per_cell), steps_per_cell)
    if full >= width:
        return BAR_CHARS[-1] * width
    return (BAR_CHARS[-1] * full + BAR_CHARS[partial]).ljust(width)


def format_interval(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_rate(seconds_per_item: float) -> str:
    if seconds_per_item > 1:
        return f"{seconds_per_item:5.2f}s/it"
    return f"{1 / seconds_per_item:5.2f}it/s"


def tqdm_line(desc: str, done: int, total: int, seconds_per_item: float, postfix: str = "") -> str:
    """`desc: pct%|bar| n/total [elapsed<remaining, rate, postfix]`, as tqdm prints it."""
    fraction = done / total if total else 1.0
    if done == 0:
        timing = "00:00<?, ?it/s"
    else:
        elapsed = format_interval(done * seconds_per_item)
        remaining = format_interval((total - done) * seconds_per_item)
        timing = f"{elapsed}<{remaining}, {format_rate(seconds_per_item)}"
    suffix = f", {postfix}" if postfix and done else ""
    return f"{desc}: {fraction * 100:3.0f}%|{tqdm_bar(fraction)}| {done}/{total} [{timing}{suffix}]"


def training_bar(step: int, total: int, seed: str) -> str:
    """A training-loop line, e.g. `flux_train_replicate:  83%|████████▎ | 2482/3000 [...]`."""
    jitter = random.Random(f"{seed}:{step}").uniform(-0.03, 0.03)
    loss = max(0.05, 0.45 - 0.2 * (step / max(total, 1)) + jitter)
    postfix = f"lr: {LEARNING_RATE} loss: {loss:.3e}"
    return tqdm_line(TRAIN_BAR, step, total, SECONDS_PER_STEP, postfix)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class Dataset:
    images: int
    captions: int


def read_dataset(zip_bytes: bytes) -> Dataset:
    """The images (and `.txt` captions beside them) of the uploaded zip; ValueError if none."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            names = [name.lower() for name in archive.namelist() if not name.endswith("/")]
    except zipfile.BadZipFile as exc:
        raise ValueError(f"zipfile.BadZipFile: {exc}") from exc
    stems = {name.rsplit(".", 1)[0] for name in names if name.endswith(IMAGE_SUFFIXES)}
    if not stems:
        raise ValueError("No images found in input_images")
    captions = sum(1 for name in names if name.endswith(".txt") and name[:-4] in stems)
    return Dataset(len(stems), captions)


def setup_lines(total: int, dataset: Dataset) -> list[str]:
    """What the trainer prints before its training loop, including bars that are not progress."""
    uncaptioned = dataset.images - dataset.captions
    return [
        "Downloading input_images...",
        f"Extracted {dataset.images + dataset.captions} files from zip to input_images/",
        f"Found {dataset.captions} caption files",
        "Loading Florence-2 for captioning",
        tqdm_line("Captioning images", uncaptioned, uncaptioned, 0.45),
        "Loading Flux model",
        "Loading transformer",
        tqdm_line("Loading checkpoint shards", 3, 3, 1 / 1.20),
        "Quantizing transformer",
        "Loading vae",
        "Loading t5",
        tqdm_line("Loading checkpoint shards", 2, 2, 1 / 1.74),
        "Preparing Model",
        "create LoRA network. base dim (rank): 16, alpha: 16",
        "Dataset: input_images",
        "Caching latents to memory",
        tqdm_line("Caching latents to memory", 2 * dataset.images, 2 * dataset.images, 1 / 5.89),
        "Generating baseline samples before training",
        tqdm_line(TRAIN_BAR, 0, total, SECONDS_PER_STEP),
    ]


def final_lines(total: int, seed: str) -> list[str]:
    return [
        training_bar(total, total, seed),
        "Saved to output/flux_train_replicate/flux_train_replicate.safetensors",
        "Training complete",
        "Creating tar of output directory",
    ]


def failure_lines(error: str) -> list[str]:
    return [
        "Traceback (most recent call last):",
        '  File "/src/train.py", line 341, in train',
        "    job.run()",
        f"torch.OutOfMemoryError: {error}",
    ]
