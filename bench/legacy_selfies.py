"""The uploads benchmark's baseline: `domain/training/selfies.py` verbatim as it was before
the process pool (commit b0a947a): decoded one by one in a thread at full size, 2048 px out.

The rules for a training's selfies: how many, how big, which formats, and how they are cleaned.

Every upload is decoded (never trusted by its name or declared type), checked, turned upright,
flattened to RGB and re-encoded as a fresh JPEG, so no metadata (EXIF, GPS, XMP, ICC, comments)
survives. The result is the list of cleaned JPEGs and a zip of them for the trainer.
"""

import asyncio
import hashlib
import io
import threading
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from domain.errors import BadUserInput

MIB = 1024 * 1024
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")

# What Pillow raises for a file it recognised but cannot decode (truncated, corrupt).
_DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
)
_BOMB_ERRORS: tuple[type[Exception], ...] = (
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WHITE = (255, 255, 255, 255)
# warnings.catch_warnings() swaps process-wide state; serialise our own uses of it so two
# uploads decoding in parallel threads cannot leave the filter list in a mixed-up state.
_WARNINGS_LOCK = threading.Lock()


class SelfieSource(Protocol):
    """What a GraphQL upload (starlette's UploadFile) looks like."""

    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class SelfieLimits:
    min_count: int = 10
    max_count: int = 30
    min_short_side: int = 512
    max_file_bytes: int = 20 * MIB
    max_total_bytes: int = 200 * MIB
    max_pixels: int = 40_000_000
    output_long_side: int = 2048
    jpeg_quality: int = 95
    read_chunk_bytes: int = MIB

    def __post_init__(self) -> None:
        if not 1 <= self.min_count <= self.max_count:
            raise ValueError("need 1 <= min_count <= max_count")
        sizes = (self.max_file_bytes, self.max_total_bytes, self.max_pixels, self.read_chunk_bytes)
        if min(sizes) < 1 or self.min_short_side < 1 or self.output_long_side < 1:
            raise ValueError("limits must be positive")


DEFAULT_LIMITS = SelfieLimits()


@dataclass(frozen=True)
class PreparedSelfies:
    images: list[bytes]
    """Normalised JPEGs, in upload order."""
    zip_bytes: bytes
    """A zip of the images named selfie-01.jpg, selfie-02.jpg, ..."""

    @property
    def count(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class _Normalised:
    jpeg: bytes
    fingerprint: bytes


async def prepare_selfies(
    sources: Sequence[SelfieSource], *, limits: SelfieLimits = DEFAULT_LIMITS
) -> PreparedSelfies:
    """Read, check and clean the uploads; raise BadUserInput saying what to fix."""
    _check_count(len(sources), limits)
    images: list[bytes] = []
    first_seen: dict[bytes, int] = {}
    total_bytes = 0
    for position, source in enumerate(sources, start=1):
        label = _describe(position, source.filename)
        data = await _read_limited(source, label, limits, already_read=total_bytes)
        total_bytes += len(data)
        normalised = await asyncio.to_thread(_normalise, data, label, limits)
        del data  # let the raw upload go before reading the next one
        _check_unique(normalised.fingerprint, position, first_seen, sources)
        images.append(normalised.jpeg)
    zip_bytes = await asyncio.to_thread(_zip, images)
    return PreparedSelfies(images=images, zip_bytes=zip_bytes)


def _check_count(count: int, limits: SelfieLimits) -> None:
    if count < limits.min_count:
        sent = f"you sent {count}" if count else "you sent none"
        raise BadUserInput(
            f"Upload at least {limits.min_count} photos of yourself; {sent}. "
            f"Add {limits.min_count - count} more."
        )
    if count > limits.max_count:
        raise BadUserInput(
            f"Upload at most {limits.max_count} photos; you sent {count}. "
            f"Remove {count - limits.max_count} of them."
        )


async def _read_limited(
    source: SelfieSource, label: str, limits: SelfieLimits, *, already_read: int
) -> bytes:
    """Read the whole upload in chunks, refusing as soon as a size limit is passed.

    Never asks for more than one byte past the tighter of the two limits, so at most
    limit + 1 bytes (limit + one chunk for a source that over-delivers) are buffered.
    """
    budget = min(limits.max_file_bytes, limits.max_total_bytes - already_read)
    buffer = bytearray()
    while True:
        wanted = min(limits.read_chunk_bytes, budget - len(buffer) + 1)
        chunk = await source.read(wanted)
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if len(buffer) > limits.max_file_bytes:
            raise BadUserInput(
                f"{label} is larger than {_format_bytes(limits.max_file_bytes)}. "
                "Upload a smaller copy of it (for example exported at a lower resolution)."
            )
        if already_read + len(buffer) > limits.max_total_bytes:
            raise BadUserInput(
                f"Your photos add up to more than {_format_bytes(limits.max_total_bytes)} "
                f"(passed while reading {label}). Upload smaller copies or fewer photos."
            )


def _normalise(data: bytes, label: str, limits: SelfieLimits) -> _Normalised:
    """Decode, check and re-encode one photo. CPU-bound: runs in a worker thread."""
    if not data:
        raise BadUserInput(f"{label} is an empty file. Upload the photo again.")
    with _open_checked(data, label, limits) as image:
        pixels = _decode_upright_rgb(image, label)
    _check_short_side(pixels, label, limits)
    return _encode(_downscale(pixels, limits.output_long_side), limits.jpeg_quality)


def _open_checked(data: bytes, label: str, limits: SelfieLimits) -> ImageFile.ImageFile:
    """Identify the format from the bytes and refuse oversized canvases before decoding."""
    webp_size = _webp_canvas_size(data)
    if webp_size is not None:  # Pillow allocates a WebP canvas while opening it
        _check_pixels(webp_size, label, limits)
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except _BOMB_ERRORS as exc:
        raise BadUserInput(
            f"{label} has too many pixels; photos can be at most "
            f"{_format_megapixels(limits.max_pixels)} megapixels. Upload a smaller version."
        ) from exc
    except UnidentifiedImageError as exc:
        raise BadUserInput(
            f"{label} is not a JPEG, PNG or WebP image. Upload it as JPEG, PNG or WebP "
            "(HEIC photos from an iPhone need converting first)."
        ) from exc
    except _DECODE_ERRORS as exc:
        raise _damaged(label) from exc
    try:
        _check_pixels(image.size, label, limits)
    except BadUserInput:
        image.close()
        raise
    return image


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP header declares, or None if this is not a WebP header."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        return _le(data[24:27]) + 1, _le(data[27:30]) + 1
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = _le(data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        return _le(data[26:28]) & 0x3FFF, _le(data[28:30]) & 0x3FFF
    return None


def _le(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def _check_pixels(size: tuple[int, int], label: str, limits: SelfieLimits) -> None:
    width, height = size
    if width * height > limits.max_pixels:
        raise BadUserInput(
            f"{label} is {width} x {height} pixels ({_format_megapixels(width * height)} "
            f"megapixels); photos can be at most {_format_megapixels(limits.max_pixels)} "
            "megapixels. Upload a smaller version."
        )


def _decode_upright_rgb(image: ImageFile.ImageFile, label: str) -> Image.Image:
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
        return _flatten_to_rgb(upright)
    except _DECODE_ERRORS as exc:
        raise _damaged(label) from exc


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels, with any transparency laid onto white."""
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba).convert("RGB")
    return image.convert("RGB")


def _check_short_side(image: Image.Image, label: str, limits: SelfieLimits) -> None:
    if min(image.size) < limits.min_short_side:
        raise BadUserInput(
            f"{label} is {image.width} x {image.height} pixels; each photo must be at least "
            f"{limits.min_short_side} pixels on its shorter side. Upload a larger photo."
        )


def _downscale(image: Image.Image, long_side: int) -> Image.Image:
    longest = max(image.size)
    if longest <= long_side:
        return image
    scale = long_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _encode(image: Image.Image, quality: int) -> _Normalised:
    raw = image.tobytes()
    digest = hashlib.sha256(f"{image.width}x{image.height}:".encode())
    digest.update(raw)
    # A fresh image from bare pixels carries no info dict, so nothing (EXIF, GPS, XMP, ICC,
    # comments) can be copied into the JPEG by the encoder.
    fresh = Image.frombytes("RGB", image.size, raw)
    buffer = io.BytesIO()
    fresh.save(buffer, format="JPEG", quality=quality, optimize=True)
    return _Normalised(jpeg=buffer.getvalue(), fingerprint=digest.digest())


def _check_unique(
    fingerprint: bytes,
    position: int,
    first_seen: dict[bytes, int],
    sources: Sequence[SelfieSource],
) -> None:
    earlier = first_seen.setdefault(fingerprint, position)
    if earlier == position:
        return
    names = [
        _display_name(sources[earlier - 1].filename),
        _display_name(sources[position - 1].filename),
    ]
    which = f" ({names[0]} and {names[1]})" if all(names) else ""
    raise BadUserInput(
        f"Photos {earlier} and {position} are the same picture{which}. "
        "Replace one of them with a different photo."
    )


def _zip(images: Sequence[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for index, jpeg in enumerate(images, start=1):
            entry = zipfile.ZipInfo(f"selfie-{index:02d}.jpg", date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, jpeg)
    return buffer.getvalue()


def _describe(position: int, filename: str | None) -> str:
    name = _display_name(filename)
    return f"Photo {position} ({name})" if name else f"Photo {position}"


def _display_name(filename: str | None) -> str:
    """The filename as safe to echo back: printable and not absurdly long."""
    name = "".join(ch if ch.isprintable() else "?" for ch in (filename or "").strip())
    return name if len(name) <= 80 else name[:77] + "..."


def _damaged(label: str) -> BadUserInput:
    return BadUserInput(
        f"{label} could not be read: the file is damaged or incomplete. "
        "Upload it again or choose another photo."
    )


def _format_bytes(count: int) -> str:
    for unit, scale in (("MB", MIB), ("KB", 1024)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


def _format_megapixels(pixels: int) -> str:
    return f"{round(pixels / 1_000_000, 1):g}"
