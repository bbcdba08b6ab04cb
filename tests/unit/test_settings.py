"""Settings: allowed origins, the public URL, output hosts, image storage, and what is
refused at start."""

import pytest
from pydantic import ValidationError

from settings import Environment, Settings
from settings.config import BucketLocation


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


NO_CREDENTIALS: dict[str, object] = {
    "aws_access_key_id": None,
    "aws_secret_access_key": None,
    "aws_web_identity_token_file": None,
    "aws_container_credentials_uri": None,
    "aws_metadata_endpoint": None,
}
KEYS = {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "secret"}


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://images", "images", ""),
        ("s3://my.images-2/", "my.images-2", ""),
        ("s3://images/sselfie/prod/", "images", "sselfie/prod"),
    ],
)
def test_storage_url_names_a_bucket_and_an_optional_prefix(
    url: str, bucket: str, prefix: str
) -> None:
    configured = settings(storage_url=url, **KEYS)

    assert configured.image_bucket == BucketLocation(bucket, prefix)
    assert configured.deployment_problems() == []


@pytest.mark.parametrize("unset", [None, "", "  "])
def test_without_storage_url_images_are_local_files(unset: str | None) -> None:
    configured = settings(storage_url=unset, **NO_CREDENTIALS)

    assert configured.image_bucket is None
    assert configured.deployment_problems() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://minio:9000/images",
        "https://images.s3.amazonaws.com",
        "s3://",
        "s3:///images",
        "s3://Images",
        "s3://ab",
        "s3://images:9000",
        "s3://key@images",
        "s3://images/a/../b",
        "s3://images/./b",
        "s3://images/a//b",
        "s3://images/with space",
        "s3://images?region=eu",
        "s3://images#x",
        "images",
    ],
)
def test_a_malformed_storage_url_is_refused_by_name(url: str) -> None:
    with pytest.raises(ValidationError, match=r"STORAGE_URL must be s3://BUCKET\[/PREFIX\]"):
        settings(storage_url=url)


def test_a_bucket_without_any_credentials_is_a_deployment_problem() -> None:
    problems = settings(storage_url="s3://images", **NO_CREDENTIALS).deployment_problems()

    assert len(problems) == 1
    assert problems[0].startswith("STORAGE_URL=s3://images needs the store's credentials")
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in problems[0]


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("aws_access_key_id", "AWS_SECRET_ACCESS_KEY"),
        ("aws_secret_access_key", "AWS_ACCESS_KEY_ID"),
    ],
)
def test_half_a_key_pair_is_a_deployment_problem_naming_the_other_half(
    given: str, missing: str
) -> None:
    values = {**NO_CREDENTIALS, given: "value", "aws_web_identity_token_file": "/var/token"}

    problems = settings(storage_url="s3://images", **values).deployment_problems()

    assert len(problems) == 1
    assert f"STORAGE_URL needs {missing}" in problems[0]


@pytest.mark.parametrize(
    "source",
    ["aws_web_identity_token_file", "aws_container_credentials_uri", "aws_metadata_endpoint"],
)
def test_the_rest_of_the_credential_chain_counts_as_credentials(source: str) -> None:
    values = {**NO_CREDENTIALS, source: "/from/the/platform"}

    assert settings(storage_url="s3://images", **values).deployment_problems() == []


def test_the_standard_aws_variables_configure_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_URL", "s3://images/studio")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")

    configured = Settings()

    assert configured.image_bucket == BucketLocation("images", "studio")
    assert configured.aws_endpoint_url == "http://127.0.0.1:9000"
    assert (configured.aws_access_key_id, configured.aws_secret_access_key) == (
        "AKIAEXAMPLE",
        "secret",
    )
    assert configured.aws_region == "eu-west-3"
    assert configured.deployment_problems() == []


@pytest.mark.parametrize("name", ["aws_endpoint_url", "storage_public_endpoint_url"])
def test_store_endpoints_must_be_http_urls(name: str) -> None:
    with pytest.raises(ValidationError, match=name.upper()):
        settings(**{name: "minio:9000"})
