"""Real image bytes for predictions' outputs and a real tar for trainings' weights."""

import hashlib
import io
import math
import tarfile
from typing import Any

from PIL import Image

PALETTE = [
    (214, 69, 65),
    (52, 120, 198),
    (64, 160, 92),
    (232, 170, 46),
    (142, 84, 186),
    (36, 166, 170),
    (222, 110, 160),
    (110, 110, 110),
]
FORMATS = {
    "png": ("PNG", "image/png"),
    "jpg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}


def extension(prediction_input: dict[str, Any]) -> str:
    fmt = prediction_input.get("output_format", "webp")
    return fmt if fmt in FORMATS else "webp"


def output_size(prediction_input: dict[str, Any]) -> tuple[int, int]:
    """Width and height for the input's aspect ratio and megapixels, multiples of 16."""
    ratio = str(prediction_input.get("aspect_ratio", "1:1"))
    try:
        across, down = (int(part) for part in ratio.split(":"))
        megapixels = float(prediction_input.get("megapixels", "1"))
    except ValueError:
        across, down, megapixels = 1, 1, 1.0
    pixels = megapixels * 1024 * 1024
    width = math.sqrt(pixels * across / down)
    return _multiple_of_16(width), _multiple_of_16(width * down / across)


def _multiple_of_16(value: float) -> int:
    return max(16, round(value / 16) * 16)


def colour(prediction_id: str, index: int) -> tuple[int, int, int]:
    """Distinct for each output of a prediction."""
    start = hashlib.sha256(prediction_id.encode()).digest()[0]
    return PALETTE[(start + index) % len(PALETTE)]


def render_output(prediction_id: str, index: int, prediction_input: dict[str, Any]) -> bytes:
    image = Image.new("RGB", output_size(prediction_input), colour(prediction_id, index))
    pil_format, _ = FORMATS[extension(prediction_input)]
    buffer = io.BytesIO()
    quality = int(prediction_input.get("output_quality", 80))
    image.save(buffer, format=pil_format, **({} if pil_format == "PNG" else {"quality": quality}))
    return buffer.getvalue()


def weights_tar(training_id: str) -> bytes:
    payload = f"fake LoRA weights of training {training_id}\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo("output/flux_train_replicate/lora.safetensors")
        member.size = len(payload)
        archive.addfile(member, io.BytesIO(payload))
    return buffer.getvalue()
