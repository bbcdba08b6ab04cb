"""Gallery renditions: WebP, longest side within the size's bound, ratio kept, never upscaled."""

import io

import pytest
from PIL import Image

from domain.generation.renditions import (
    LONGEST_SIDE,
    RenditionFailed,
    fitted_size,
    make_rendition,
    rendition_key,
)
from domain.images import ImageSize

SIZES = [ImageSize.THUMBNAIL, ImageSize.PREVIEW]


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def opened(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


@pytest.mark.parametrize("size", SIZES)
def test_a_rendition_is_webp_within_its_longest_side(size: ImageSize) -> None:
    rendition = opened(make_rendition(png(896, 1184), size))

    assert rendition.format == "WEBP"
    assert max(rendition.size) == LONGEST_SIDE[size]


@pytest.mark.parametrize(
    ("width", "height"), [(896, 1184), (1184, 896), (2048, 2048), (1440, 480), (3, 2000)]
)
@pytest.mark.parametrize("size", SIZES)
def test_the_aspect_ratio_is_kept(width: int, height: int, size: ImageSize) -> None:
    made = opened(make_rendition(png(width, height), size)).size

    assert max(made) == LONGEST_SIDE[size]
    # Within the rounding of one pixel on the shorter side.
    assert abs(made[0] * height - made[1] * width) <= max(width, height)


@pytest.mark.parametrize("size", SIZES)
def test_a_small_image_is_never_upscaled(size: ImageSize) -> None:
    assert opened(make_rendition(png(300, 200), size)).size == (300, 200)


def test_transparency_is_kept() -> None:
    see_through = Image.new("RGB", (800, 600), "red")
    see_through.putalpha(Image.linear_gradient("L").resize((800, 600)))
    out = io.BytesIO()
    see_through.save(out, format="PNG")

    rendition = opened(make_rendition(out.getvalue(), ImageSize.THUMBNAIL))

    assert rendition.mode == "RGBA"
    lowest_alpha, _ = rendition.getchannel("A").getextrema()
    assert isinstance(lowest_alpha, int)
    assert lowest_alpha < 10


def test_a_rendition_is_smaller_than_its_png_original() -> None:
    original = png(896, 1184)

    assert len(make_rendition(original, ImageSize.THUMBNAIL)) < len(original) / 4


@pytest.mark.parametrize("content", [b"", b"not an image", png(64, 64)[:60]])
def test_an_undecodable_original_fails_with_rendition_failed(content: bytes) -> None:
    with pytest.raises(RenditionFailed):
        make_rendition(content, ImageSize.THUMBNAIL)


def test_original_is_not_a_rendition() -> None:
    with pytest.raises(ValueError, match="ORIGINAL"):
        make_rendition(png(10, 10), ImageSize.ORIGINAL)


@pytest.mark.parametrize(
    ("width", "height", "longest", "expected"),
    [(896, 1184, 384, (291, 384)), (1184, 896, 384, (384, 291)), (4000, 1, 384, (384, 1))],
)
def test_fitted_size_rounds_and_keeps_at_least_one_pixel(
    width: int, height: int, longest: int, expected: tuple[int, int]
) -> None:
    assert fitted_size(width, height, longest) == expected


def test_renditions_are_stored_beside_their_original() -> None:
    assert rendition_key("u1/g1/0.png", ImageSize.THUMBNAIL) == "u1/g1/0.thumbnail.webp"
    assert rendition_key("u1/g1/2.jpg", ImageSize.PREVIEW) == "u1/g1/2.preview.webp"
    assert rendition_key("u1/g1/0.png", ImageSize.ORIGINAL) == "u1/g1/0.png"
