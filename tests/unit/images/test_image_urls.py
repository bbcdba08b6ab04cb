"""Signed, expiring URLs for stored images."""

from urllib.parse import parse_qs, urlsplit

import pytest

from domain.images import ImageUrlSigner

SECRET = b"a server secret of enough length"
LIFETIME = 3600
IMAGE_ID = "0b7c1d6e-2f4a-4c8e-9a1b-3d5e7f9a0c2e"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.5)


@pytest.fixture
def signer(clock: FakeClock) -> ImageUrlSigner:
    return ImageUrlSigner(SECRET, lifetime_seconds=LIFETIME, clock=clock)


def parts(url: str) -> tuple[str, str, str]:
    """The id, expires and signature of a URL the signer made."""
    split = urlsplit(url)
    assert split.path.startswith("/images/")
    query = parse_qs(split.query, strict_parsing=True)
    assert set(query) == {"expires", "signature"}
    return split.path.removeprefix("/images/"), query["expires"][0], query["signature"][0]


def test_a_fresh_url_verifies(signer: ImageUrlSigner) -> None:
    url = signer.url(IMAGE_ID)

    image_id, expires, signature = parts(url)
    assert image_id == IMAGE_ID
    assert signer.verify(image_id, expires, signature)


def test_the_url_is_relative_and_in_the_documented_shape(signer: ImageUrlSigner) -> None:
    url = signer.url(IMAGE_ID)

    assert url.startswith(f"/images/{IMAGE_ID}?expires=")
    _, _, signature = parts(url)
    assert len(signature) == 64
    assert int(signature, 16) >= 0


def test_expiry_is_past_the_current_window_by_one_lifetime(
    signer: ImageUrlSigner, clock: FakeClock
) -> None:
    _, expires, _ = parts(signer.url(IMAGE_ID))

    assert int(expires) % LIFETIME == 0
    assert LIFETIME <= int(expires) - clock.now <= 2 * LIFETIME


def test_expiry_on_a_window_boundary_is_one_lifetime_away(
    signer: ImageUrlSigner, clock: FakeClock
) -> None:
    clock.now = 1_699_999_200.0  # a multiple of 3600

    _, expires, _ = parts(signer.url(IMAGE_ID))

    assert int(expires) == clock.now + LIFETIME


@pytest.mark.parametrize("part", ["id", "expires", "signature"])
def test_a_tampered_part_fails(signer: ImageUrlSigner, part: str) -> None:
    image_id, expires, signature = parts(signer.url(IMAGE_ID))
    tampered = {
        "id": (image_id[:-1] + ("f" if image_id[-1] != "f" else "e"), expires, signature),
        "expires": (image_id, str(int(expires) + LIFETIME), signature),
        "signature": (image_id, expires, signature[:-1] + ("0" if signature[-1] != "0" else "1")),
    }[part]

    assert not signer.verify(*tampered)


def test_another_images_signature_fails(signer: ImageUrlSigner) -> None:
    _, expires, signature = parts(signer.url(IMAGE_ID))

    assert not signer.verify("another-image", expires, signature)


def test_an_expired_url_fails(signer: ImageUrlSigner, clock: FakeClock) -> None:
    image_id, expires, signature = parts(signer.url(IMAGE_ID))

    clock.now = int(expires)
    assert signer.verify(image_id, expires, signature)
    clock.now = int(expires) + 0.001
    assert not signer.verify(image_id, expires, signature)


def test_a_url_stays_valid_for_at_least_one_lifetime(
    signer: ImageUrlSigner, clock: FakeClock
) -> None:
    image_id, expires, signature = parts(signer.url(IMAGE_ID))

    clock.now += LIFETIME
    assert signer.verify(image_id, expires, signature)


def test_urls_are_stable_within_a_window(signer: ImageUrlSigner, clock: FakeClock) -> None:
    clock.now = 1_699_999_200.5  # just after a window starts
    first = signer.url(IMAGE_ID)
    clock.now += LIFETIME - 1  # just before it ends
    assert signer.url(IMAGE_ID) == first


def test_urls_change_across_windows(signer: ImageUrlSigner, clock: FakeClock) -> None:
    first = signer.url(IMAGE_ID)
    clock.now += LIFETIME

    second = signer.url(IMAGE_ID)

    assert second != first
    assert int(parts(second)[1]) == int(parts(first)[1]) + LIFETIME


@pytest.mark.parametrize(
    ("expires", "signature"),
    [
        (None, None),
        ("EXPIRES", None),
        (None, "SIGNATURE"),
        ("", "SIGNATURE"),
        ("EXPIRES", ""),
        ("soon", "SIGNATURE"),
        ("-1", "SIGNATURE"),
        ("1e12", "SIGNATURE"),
        ("\u0661\u0667" + "\u0660" * 8, "SIGNATURE"),  # Arabic-Indic digits
        ("9" * 40, "SIGNATURE"),
        ("EXPIRES", "not hex"),
        ("EXPIRES", "SIGNATURE_UPPERCASE"),
        ("EXPIRES", "SIGNATURE_TRUNCATED"),
        ("EXPIRES", "SIGNATURE_EXTENDED"),
        ("EXPIRES", "é" * 64),
        (" EXPIRES", "SIGNATURE"),
    ],
)
def test_missing_or_garbage_parameters_fail(
    signer: ImageUrlSigner, expires: str | None, signature: str | None
) -> None:
    image_id, real_expires, real_signature = parts(signer.url(IMAGE_ID))
    substitutions = {
        "EXPIRES": real_expires,
        "SIGNATURE": real_signature,
        "SIGNATURE_UPPERCASE": real_signature.upper(),
        "SIGNATURE_TRUNCATED": real_signature[:-2],
        "SIGNATURE_EXTENDED": real_signature + "00",
    }

    def substitute(value: str | None) -> str | None:
        if value is None:
            return None
        for placeholder, real in substitutions.items():
            if value.strip() == placeholder:
                return value.replace(placeholder, real)
        return value

    assert not signer.verify(image_id, substitute(expires), substitute(signature))


def test_leading_zeros_in_expires_fail(signer: ImageUrlSigner) -> None:
    image_id, expires, signature = parts(signer.url(IMAGE_ID))

    assert not signer.verify(image_id, "0" + expires, signature)


def test_another_secret_fails(clock: FakeClock, signer: ImageUrlSigner) -> None:
    other = ImageUrlSigner(b"another secret entirely", lifetime_seconds=LIFETIME, clock=clock)

    assert not other.verify(*parts(signer.url(IMAGE_ID)))


BAD_IDS = ["", "a" * 65, "has space", "with/slash", "dot.ted", "../etc", "ünïcode", "a?b", "a\n"]


@pytest.mark.parametrize("image_id", BAD_IDS)
def test_url_refuses_bad_ids(signer: ImageUrlSigner, image_id: str) -> None:
    with pytest.raises(ValueError, match="image id"):
        signer.url(image_id)


@pytest.mark.parametrize("image_id", BAD_IDS)
def test_verify_refuses_bad_ids(signer: ImageUrlSigner, image_id: str) -> None:
    _, expires, signature = parts(signer.url(IMAGE_ID))

    assert not signer.verify(image_id, expires, signature)


def test_the_longest_allowed_id_works(signer: ImageUrlSigner) -> None:
    image_id = "A-z0" * 16

    assert signer.verify(*parts(signer.url(image_id)))


@pytest.mark.parametrize(
    ("secret", "lifetime"), [(b"", LIFETIME), (SECRET, 0), (SECRET, -LIFETIME)]
)
def test_bad_configuration_is_refused(secret: bytes, lifetime: int) -> None:
    with pytest.raises(ValueError, match=r"secret|lifetime"):
        ImageUrlSigner(secret, lifetime_seconds=lifetime)


def test_seconds_left_never_passes_the_expiry(signer: ImageUrlSigner, clock: FakeClock) -> None:
    _, expires, _ = parts(signer.url(IMAGE_ID))

    assert signer.seconds_left(expires) <= int(expires) - clock.now
    assert signer.seconds_left(expires) >= LIFETIME - 1
    clock.now = int(expires) - 0.5
    assert signer.seconds_left(expires) == 0
    clock.now = int(expires) + 100
    assert signer.seconds_left(expires) == 0
