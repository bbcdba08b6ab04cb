"""Settings a browser-facing deployment depends on: allowed origins and the public URL."""

import pytest
from pydantic import ValidationError

from settings import Environment, Settings


def settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def test_allowed_origins_are_a_comma_separated_list_of_exact_origins() -> None:
    configured = settings(
        cors_allowed_origins_text=" http://localhost:5173, https://app.example.com ,,"
        "http://localhost:5173"
    )

    assert configured.cors_allowed_origins == ("http://localhost:5173", "https://app.example.com")
    assert settings().cors_allowed_origins == ()


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://APP.example.com",
        "https://app.example.com:443",
        "app.example.com",
        "ftp://app.example.com",
        "null",
    ],
)
def test_anything_but_an_origin_as_browsers_send_it_is_refused(origin: str) -> None:
    with pytest.raises(ValidationError, match="CORS_ALLOWED_ORIGINS"):
        settings(cors_allowed_origins_text=origin)


def test_production_needs_a_public_base_url_and_exact_origins() -> None:
    bare = settings(env=Environment.PRODUCTION, cors_allowed_origins_text="*")
    ready = settings(
        env=Environment.PRODUCTION,
        public_base_url="https://api.example.com/",
        cors_allowed_origins_text="https://app.example.com",
    )

    problems = bare.deployment_problems()
    assert len(problems) == 2
    assert "PUBLIC_BASE_URL" in problems[0]
    assert "CORS_ALLOWED_ORIGINS" in problems[1]
    assert ready.deployment_problems() == []
    assert ready.public_base_url == "https://api.example.com"
    assert ready.replicate_webhook_url == "https://api.example.com/webhooks/replicate"


def test_development_may_allow_any_origin_and_derive_its_url() -> None:
    assert settings(cors_allowed_origins_text="*").deployment_problems() == []


@pytest.mark.parametrize("url", ["api.example.com", "ftp://api.example.com", "https://x/?a=1"])
def test_a_public_base_url_must_be_an_http_url(url: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        settings(public_base_url=url)
