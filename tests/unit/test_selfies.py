import functools
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Sequence

import pytest
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageDraw, ImageStat

from domain.errors import BadUserInput
from domain.training.selfies import (
    DEFAULT_LIMITS,
    CleanedSelfie,
    PreparedSelfies,
    ReadSelfie,
    SelfieLimits,
    SelfieSource,
    clean_selfie,
)
from domain.training.selfies import prepare_selfies as prepare_with

MIB = 1024 * 1024
RED = (220, 20, 20)
BLUE = (20, 20, 220)


class FakeUpload:
    """An in-memory upload that counts how many bytes were read from it."""

    def __init__(self, data: bytes, filename: str | None = "selfie.jpg") -> None:
        self.filename: str | None = filename
        self._stream = io.BytesIO(data)
        self.bytes_read = 0

    async def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.bytes_read += len(chunk)
        return chunk


class InlineProcessor:
    """Cleans in this process, one after another, and remembers which photos it decoded."""

    def __init__(self) -> None:
        self.decoded: list[int] = []

    async def clean(
        self, selfies: Sequence[ReadSelfie], limits: SelfieLimits
    ) -> list[CleanedSelfie]:
        cleaned = []
        for selfie in selfies:
            self.decoded.append(selfie.position)
            cleaned.append(clean_selfie(selfie, limits))
        return cleaned


async def prepare_selfies(
    sources: Sequence[SelfieSource], *, limits: SelfieLimits = DEFAULT_LIMITS
) -> PreparedSelfies:
    return await prepare_with(sources, InlineProcessor(), limits=limits)


class EndlessUpload:
    """An upload that never ends: zero bytes for as long as anyone keeps reading."""

    def __init__(self, filename: str | None = "huge.jpg") -> None:
        self.filename: str | None = filename
        self.bytes_read = 0

    async def read(self, size: int = -1) -> bytes:
        assert size > 0, "an endless upload cannot be read whole"
        self.bytes_read += size
        return bytes(size)


def drawn_image(seed: int, size: tuple[int, int] = (512, 640), mode: str = "RGB") -> Image.Image:
    rng = random.Random(seed)
    width, height = size

    def colour() -> tuple[int, ...]:
        return tuple(rng.randrange(256) for _ in mode)

    image = Image.new(mode, size, colour())
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        box = (x0, y0, x0 + rng.randrange(20, 200), y0 + rng.randrange(20, 200))
        draw.ellipse(box, fill=colour())
    return image


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


@functools.cache
def selfie_jpeg(seed: int) -> bytes:
    return encode(drawn_image(seed), quality=85)


def uploads(count: int, replace: dict[int, tuple[bytes, str]] | None = None) -> list[FakeUpload]:
    """count distinct JPEG selfies; replace maps 1-based positions to (bytes, filename)."""
    replaced = replace or {}
    return [
        FakeUpload(*replaced.get(position, (selfie_jpeg(position), f"selfie{position}.jpg")))
        for position in range(1, count + 1)
    ]


def opened(jpeg: bytes) -> Image.Image:
    return Image.open(io.BytesIO(jpeg))


def with_exif(image: Image.Image, fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 1.0)
    return encode(image, fmt, exif=exif)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge greyscale canvas but carries almost no data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def webp_header_only(width: int, height: int) -> bytes:
    """An extended-format WebP header declaring a huge canvas."""
    vp8x = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


async def refused(sources: list[FakeUpload], limits: SelfieLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(BadUserInput) as caught:
        await prepare_selfies(sources, limits=limits)
    return caught.value.message


@pytest.mark.parametrize("count", [10, 30])
async def test_accepts_between_ten_and_thirty_photos(count: int) -> None:
    result = await prepare_selfies(uploads(count))

    assert result.count == count
    for jpeg in result.images:
        image = opened(jpeg)
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (512, 640))


@pytest.mark.parametrize(("count", "fragment"), [(9, "at least 10"), (31, "at most 30")])
async def test_refuses_wrong_count_before_reading_any_bytes(count: int, fragment: str) -> None:
    sources = uploads(count)

    message = await refused(sources)

    assert fragment in message
    assert f"you sent {count}" in message
    assert all(source.bytes_read == 0 for source in sources)


async def test_accepts_jpeg_png_with_alpha_and_webp() -> None:
    transparent = drawn_image(101, mode="RGBA")
    transparent.paste((0, 0, 0, 0), (0, 0, 100, 100))
    sources = uploads(
        10,
        {
            1: (encode(transparent, "PNG"), "cutout.png"),
            2: (encode(drawn_image(102), "WEBP", quality=90), "phone.webp"),
        },
    )

    result = await prepare_selfies(sources)

    assert result.count == 10
    flattened = opened(result.images[0])
    assert (flattened.format, flattened.mode) == ("JPEG", "RGB")
    corner = flattened.getpixel((50, 50))  # was fully transparent
    assert isinstance(corner, tuple)
    assert all(channel >= 250 for channel in corner)
    assert opened(result.images[1]).size == (512, 640)


@pytest.mark.parametrize(
    ("data", "filename", "fragment"),
    [
        (encode(drawn_image(201), "GIF"), "party.gif", "is not a JPEG, PNG or WebP image"),
        (b"Dear diary, today I took a selfie.\n" * 50, "notes.jpg", "is not a JPEG, PNG or WebP"),
        (b"", "empty.jpg", "empty file"),
    ],
    ids=["gif", "text-renamed-jpg", "empty"],
)
async def test_refuses_files_that_are_not_images_before_reading_on_or_decoding(
    data: bytes, filename: str, fragment: str
) -> None:
    sources = uploads(10, {3: (data, filename)})
    processor = InlineProcessor()

    with pytest.raises(BadUserInput) as caught:
        await prepare_with(sources, processor)

    assert caught.value.message.startswith(f"Photo 3 ({filename}) ")
    assert fragment in caught.value.message
    assert all(source.bytes_read == 0 for source in sources[3:])
    assert processor.decoded == []


async def test_refuses_a_damaged_image_once_decoded() -> None:
    data = selfie_jpeg(202)[: len(selfie_jpeg(202)) // 2]

    message = await refused(uploads(10, {3: (data, "cut.jpg")}))

    assert message.startswith("Photo 3 (cut.jpg) ")
    assert "damaged or incomplete" in message


async def test_refuses_the_same_file_twice_before_decoding_any() -> None:
    sources = uploads(30, {30: (selfie_jpeg(1), "again.jpg")})
    processor = InlineProcessor()

    with pytest.raises(BadUserInput) as caught:
        await prepare_with(sources, processor)

    assert caught.value.message.startswith(
        "Photos 1 and 30 are the same picture (selfie1.jpg and again.jpg)."
    )
    assert processor.decoded == []


@pytest.mark.parametrize(
    "data",
    [
        encode(drawn_image(301, size=(511, 700))),
        with_exif(drawn_image(302, size=(700, 511)), orientation=6),
    ],
    ids=["portrait", "stored-landscape-rotated"],
)
async def test_refuses_photo_below_minimum_short_side(data: bytes) -> None:
    message = await refused(uploads(10, {4: (data, "tiny.jpg")}))

    assert message.startswith("Photo 4 (tiny.jpg) is 511 x 700 pixels")
    assert "at least 512 pixels on its shorter side" in message


async def test_applies_exif_orientation() -> None:
    stored = Image.new("RGB", (640, 512), BLUE)
    stored.paste(RED, (0, 0, 640, 256))  # top half red as stored
    sources = uploads(10, {1: (with_exif(stored, orientation=6), "portrait.jpg")})

    result = await prepare_selfies(sources)

    upright = opened(result.images[0]).convert("RGB")
    assert upright.size == (512, 640)
    right, left = upright.getpixel((400, 320)), upright.getpixel((100, 320))
    assert isinstance(right, tuple)
    assert isinstance(left, tuple)
    assert right[0] > 180 > right[2]  # the stored top turned to the right: rotated 90° clockwise
    assert left[2] > 180 > left[0]


async def test_strips_all_metadata() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>where-i-live</x:xmpmeta>"
    tagged = encode(drawn_image(401), exif=exif, comment=b"secret", icc_profile=icc, xmp=xmp)
    assert opened(tagged).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    result = await prepare_selfies(uploads(10, {1: (tagged, "gps.jpg")}))

    cleaned = result.images[0]
    image = opened(cleaned)
    assert (image.format, image.mode) == ("JPEG", "RGB")
    assert len(image.getexif()) == 0
    assert not {"exif", "xmp", "comment", "icc_profile"} & image.info.keys()
    for marker in (b"Exif", b"PhoneCo", b"secret", b"where-i-live", b"xmpmeta"):
        assert marker not in cleaned


async def test_refuses_oversized_file_without_reading_past_the_limit() -> None:
    endless = EndlessUpload()
    rest = uploads(10)[1:]
    sources: list[SelfieSource] = [endless, *rest]

    with pytest.raises(BadUserInput) as caught:
        await prepare_selfies(sources)

    assert caught.value.message.startswith("Photo 1 (huge.jpg) is larger than 20 MB.")
    assert 20 * MIB < endless.bytes_read <= 20 * MIB + MIB
    assert all(source.bytes_read == 0 for source in rest)


async def test_refuses_when_the_total_passes_the_limit() -> None:
    sources = uploads(10)
    first_four = sum(len(selfie_jpeg(position)) for position in range(1, 5))
    limits = SelfieLimits(max_total_bytes=first_four + 1000, read_chunk_bytes=4096)

    message = await refused(sources, limits)

    assert "add up to more than" in message
    assert "Photo 5 (selfie5.jpg)" in message
    assert sources[4].bytes_read <= 1001
    assert all(source.bytes_read == 0 for source in sources[5:])


@pytest.mark.parametrize(
    ("data", "max_pixels", "fragment"),
    [
        (encode(Image.new("L", (4000, 4000), 128), "PNG"), 1_000_000, "4000 x 4000 pixels (16"),
        (encode(Image.new("RGB", (1200, 1000), RED), "WEBP"), 1_000_000, "1200 x 1000 pixels"),
        (png_header_only(8000, 8000), 40_000_000, "8000 x 8000 pixels (64"),
        (webp_header_only(8000, 8000), 40_000_000, "8000 x 8000 pixels (64"),
        (png_header_only(20_000, 5_000), 40_000_000, "has too many pixels"),
        (png_header_only(100_000, 100_000), 40_000_000, "has too many pixels"),
    ],
    ids=["png", "webp", "png-header", "webp-header", "pillow-warning", "pillow-error"],
)
async def test_refuses_decompression_bombs(data: bytes, max_pixels: int, fragment: str) -> None:
    limits = SelfieLimits(max_pixels=max_pixels)

    message = await refused(uploads(10, {2: (data, "bomb.png")}), limits)

    assert message.startswith("Photo 2 (bomb.png) ")
    assert fragment in message
    assert "megapixels" in message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (selfie_jpeg(500), selfie_jpeg(500)),
        (encode(drawn_image(501)), with_exif(drawn_image(501))),
        (
            encode(drawn_image(502), "PNG"),
            with_exif(drawn_image(502).transpose(Image.Transpose.ROTATE_90), "PNG", orientation=6),
        ),
    ],
    ids=["same-bytes", "re-saved-with-other-exif", "stored-rotated-with-orientation"],
)
async def test_refuses_the_same_picture_twice(first: bytes, second: bytes) -> None:
    sources = uploads(10, {2: (first, "me.jpg"), 7: (second, "me-again.jpg")})

    message = await refused(sources)

    assert message.startswith("Photos 2 and 7 are the same picture (me.jpg and me-again.jpg).")


async def test_zip_holds_exactly_the_normalised_images() -> None:
    result = await prepare_selfies(uploads(12))

    with zipfile.ZipFile(io.BytesIO(result.zip_bytes)) as archive:
        names = archive.namelist()
        contents = [archive.read(name) for name in names]
        assert archive.testzip() is None

    assert names == [f"selfie-{index:02d}.jpg" for index in range(1, 13)]
    assert contents == result.images


async def test_a_phone_photo_comes_out_upright_at_1536_pixels() -> None:
    stored = drawn_image(701, size=(4032, 3024))
    sources = uploads(10, {1: (with_exif(stored, orientation=6), "phone.jpg")})

    result = await prepare_selfies(sources)

    assert DEFAULT_LIMITS.output_long_side == 1536
    assert opened(result.images[0]).size == (1152, 1536)


async def test_decoding_a_large_jpeg_at_reduced_scale_keeps_the_picture() -> None:
    big = drawn_image(702, size=(4000, 3000))
    full = big.resize((1536, 1152), Image.Resampling.LANCZOS)

    result = await prepare_selfies(uploads(10, {1: (encode(big, quality=95), "big.jpg")}))

    cleaned = opened(result.images[0]).convert("RGB")
    assert cleaned.size == (1536, 1152)
    difference = ImageChops.difference(cleaned, full).convert("L")
    assert ImageStat.Stat(difference).mean[0] < 4


async def test_downscales_to_the_output_long_side() -> None:
    big = encode(drawn_image(601, size=(1200, 1600)))
    limits = SelfieLimits(output_long_side=800)

    result = await prepare_selfies(uploads(10, {1: (big, "big.jpg")}), limits=limits)

    assert opened(result.images[0]).size == (600, 800)
    assert opened(result.images[1]).size == (512, 640)


def test_prepared_selfies_counts_images() -> None:
    assert PreparedSelfies(images=[b"a", b"b"], zip_bytes=b"").count == 2


def test_limits_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="min_count"):
        SelfieLimits(min_count=5, max_count=4)
