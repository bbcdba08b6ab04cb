"""Signed URLs of an image's sizes: each signature covers its size."""

from urllib.parse import parse_qs, urlsplit

import pytest

from domain.images import ImageSize, ImageUrlSigner, image_size_from_query

SECRET = b"a server secret of enough length"
IMAGE_ID = "0b7c1d6e-2f4a-4c8e-9a1b-3d5e7f9a0c2e"
NOW = 1_700_000_000.5


@pytest.fixture
def signer() -> ImageUrlSigner:
    return ImageUrlSigner(SECRET, lifetime_seconds=3600, clock=lambda: NOW)


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("size", [ImageSize.THUMBNAIL, ImageSize.PREVIEW])
def test_a_renditions_url_names_its_size_and_verifies_for_it_alone(
    signer: ImageUrlSigner, size: ImageSize
) -> None:
    url = signer.url(IMAGE_ID, size)
    parts = query(url)

    assert urlsplit(url).path == f"/images/{IMAGE_ID}"
    assert parts["size"] == size.value
    assert signer.verify(IMAGE_ID, parts["expires"], parts["signature"], size)
    for other in set(ImageSize) - {size}:
        assert not signer.verify(IMAGE_ID, parts["expires"], parts["signature"], other)


def test_an_originals_url_is_as_before_and_verifies_for_original_alone(
    signer: ImageUrlSigner,
) -> None:
    url = signer.url(IMAGE_ID)
    parts = query(url)

    assert url == signer.url(IMAGE_ID, ImageSize.ORIGINAL)
    assert set(parts) == {"expires", "signature"}
    assert signer.verify(IMAGE_ID, parts["expires"], parts["signature"])
    for other in (ImageSize.THUMBNAIL, ImageSize.PREVIEW):
        assert not signer.verify(IMAGE_ID, parts["expires"], parts["signature"], other)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ImageSize.ORIGINAL),
        ("original", ImageSize.ORIGINAL),
        ("thumbnail", ImageSize.THUMBNAIL),
        ("preview", ImageSize.PREVIEW),
        ("THUMBNAIL", None),
        ("", None),
        ("huge", None),
    ],
)
def test_the_size_parameter_is_read_strictly(value: str | None, expected: ImageSize | None) -> None:
    assert image_size_from_query(value) == expected
