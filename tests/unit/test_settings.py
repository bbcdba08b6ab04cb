"""Settings: allowed origins, the public URL, output hosts, and what production refuses."""

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
    bare = settings(
        env=Environment.PRODUCTION,
        cors_allowed_origins_text="*",
        database_url="postgresql://db.example.com/sselfie",
    )
    ready = settings(
        env=Environment.PRODUCTION,
        database_url="postgresql://db.example.com/sselfie",
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


def test_production_needs_a_database_url() -> None:
    problems = settings(
        env=Environment.PRODUCTION, public_base_url="https://api.example.com"
    ).deployment_problems()

    assert len(problems) == 1
    assert "DATABASE_URL" in problems[0]
    assert settings(public_base_url="https://api.example.com").deployment_problems() == []


def test_production_oidc_needs_an_audience() -> None:
    production = {
        "env": Environment.PRODUCTION,
        "public_base_url": "https://api.example.com",
        "database_url": "postgresql://db.example.com/sselfie",
        "oidc_issuer": "https://issuer.example.com",
    }

    problems = settings(**production).deployment_problems()

    assert len(problems) == 1
    assert "OIDC_AUDIENCE" in problems[0]
    assert settings(**production, oidc_audience="sselfie-api").deployment_problems() == []
    assert settings(oidc_issuer="https://issuer.example.com").deployment_problems() == []


def test_outputs_come_from_the_delivery_hosts_and_the_api_host_by_default() -> None:
    assert settings().replicate_output_hosts == (
        "replicate.delivery",
        "*.replicate.delivery",
        "api.replicate.com",
    )
    listed = settings(
        replicate_output_hosts_text=" 127.0.0.1 , Files.Example.com",
        replicate_api_base_url="http://127.0.0.1:9999/v1",
    )
    assert listed.replicate_output_hosts == ("127.0.0.1", "files.example.com")
