"""Gallery-sized renditions of a stored image: WebP, aspect ratio kept, never upscaled.

Made once per image by a queued task after its original is stored, and on the first
request for one not made yet; kept beside the original ("u/g/0.png" has
"u/g/0.thumbnail.webp"), and the image's row lists the sizes made.
"""

import io
import threading

from PIL import Image, UnidentifiedImageError

from domain.images import ImageSize

RENDITION_TYPE = "image/webp"
# Pillow's WebP quality (0-100): 80 is libwebp's own default, visually close at gallery sizes.
WEBP_QUALITY = 80
LONGEST_SIDE = {ImageSize.PREVIEW: 1024, ImageSize.THUMBNAIL: 384}
RENDITION_SIZES = (ImageSize.THUMBNAIL, ImageSize.PREVIEW)
# Far above any generated output (about 1 MP); a larger "original" is refused, not decoded.
MAX_PIXELS = 40_000_000
# Each render holds a decoded original (~4 MB for 896x1184 RGBA): a few at a time bound
# the memory, however many tasks and requests ask at once.
_RENDERING = threading.BoundedSemaphore(2)


class RenditionFailed(Exception):
    """The original could not be decoded: making it again would fail again."""


def rendition_key(original_key: str, size: ImageSize) -> str:
    """Where a rendition is stored: beside its original, "u/g/0.png" -> "u/g/0.preview.webp"."""
    if size is ImageSize.ORIGINAL:
        return original_key
    folder, _, name = original_key.rpartition("/")
    stem = name.split(".", 1)[0]
    return f"{folder}/{stem}.{size.value}.webp" if folder else f"{stem}.{size.value}.webp"


def make_rendition(original: bytes, size: ImageSize) -> bytes:
    """The WebP rendition of `original` fitting `size`'s longest side; RenditionFailed when
    `original` is not a decodable image. CPU-bound: call it off the event loop."""
    if size is ImageSize.ORIGINAL:
        raise ValueError("ORIGINAL is the stored file itself, not a rendition")
    with _RENDERING:
        try:
            with Image.open(io.BytesIO(original)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise RenditionFailed(f"{width}x{height} is too many pixels to render")
                image.load()
                return _encode(_fitted(image, LONGEST_SIDE[size]))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
            raise RenditionFailed(str(error)) from error


def fitted_size(width: int, height: int, longest_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longest side is at most `longest_side`, ratio kept,
    never enlarged, never below 1 px."""
    scale = min(longest_side / max(width, height), 1.0)
    return max(round(width * scale), 1), max(round(height * scale), 1)


def _fitted(image: Image.Image, longest_side: int) -> Image.Image:
    converted = image.convert("RGBA" if _has_alpha(image) else "RGB")
    target = fitted_size(*converted.size, longest_side)
    if target == converted.size:
        return converted
    return converted.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()
