"""Distinct, valid selfies for tests: small JPEGs that pass the studio's rules."""

import io
import random

from PIL import Image, ImageDraw


def make_selfie(seed: int, *, size: tuple[int, int] = (512, 640), fmt: str = "JPEG") -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x, y, x + rng.randrange(40, 200), y + rng.randrange(40, 200)), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def make_selfies(count: int, *, first_seed: int = 1) -> list[bytes]:
    return [make_selfie(seed) for seed in range(first_seed, first_seed + count)]
