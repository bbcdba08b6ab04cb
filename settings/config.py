import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_OUTPUT_HOSTS = "replicate.delivery,*.replicate.delivery"
STORAGE_URL_FORM = "s3://BUCKET[/PREFIX]"
MIN_METRICS_TOKEN_LENGTH = 16

_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9._-]{1,255}")
_PREFIX_MAX_LENGTH = 512


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    JSON = "json"  # one JSON object a line, for a log pipeline
    CONSOLE = "console"  # aligned, human-readable lines


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class BucketLocation:
    """Where images live in an S3-compatible store: a bucket, and a prefix ("" for none)."""

    bucket: str
    prefix: str


class Settings(BaseSettings):
    """Every setting the server reads; README.md documents each one."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, populate_by_name=True
    )

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default=Path("./.data"), validation_alias="SSELFIE_DATA_DIR")
    env: Environment = Field(default=Environment.DEVELOPMENT, validation_alias="SSELFIE_ENV")

    auth_jwt_secret: str | None = Field(default=None, validation_alias="AUTH_JWT_SECRET")
    oidc_issuer: str | None = Field(default=None, validation_alias="OIDC_ISSUER")
    oidc_audience: str | None = Field(default=None, validation_alias="OIDC_AUDIENCE")
    auth_jwt_issuer: str | None = Field(default=None, validation_alias="AUTH_JWT_ISSUER")
    auth_jwt_audience: str | None = Field(default=None, validation_alias="AUTH_JWT_AUDIENCE")

    replicate_api_token: str | None = Field(default=None, validation_alias="REPLICATE_API_TOKEN")
    replicate_api_base_url: str = Field(
        default="https://api.replicate.com/v1", validation_alias="REPLICATE_API_BASE_URL"
    )
    replicate_owner: str = Field(default="sandrasocial", validation_alias="REPLICATE_OWNER")
    replicate_extra_owners: str = Field(default="", validation_alias="REPLICATE_EXTRA_OWNERS")
    replicate_models_per_owner: int = Field(
        default=1000, ge=1, validation_alias="REPLICATE_MODELS_PER_OWNER"
    )
    replicate_webhook_secret: str | None = Field(
        default=None, validation_alias="REPLICATE_WEBHOOK_SECRET"
    )
    replicate_output_hosts_text: str = Field(
        default=DEFAULT_OUTPUT_HOSTS, validation_alias="REPLICATE_OUTPUT_HOSTS"
    )
    public_base_url: str | None = Field(default=None, validation_alias="PUBLIC_BASE_URL")
    cors_allowed_origins_text: str = Field(default="", validation_alias="CORS_ALLOWED_ORIGINS")

    max_active_generations: int = Field(default=3, ge=1, validation_alias="MAX_ACTIVE_GENERATIONS")
    daily_generation_limit: int = Field(
        default=100, ge=0, validation_alias="DAILY_GENERATION_LIMIT"
    )
    daily_training_limit: int = Field(default=3, ge=0, validation_alias="DAILY_TRAINING_LIMIT")

    reconcile_interval_seconds: float = Field(
        default=5.0, gt=0, validation_alias="RECONCILE_INTERVAL_SECONDS"
    )
    webhook_silence_seconds: float = Field(
        default=60.0, ge=0, validation_alias="WEBHOOK_SILENCE_SECONDS"
    )
    task_heartbeat_seconds: float = Field(
        default=5.0, gt=0, le=3600, validation_alias="TASK_HEARTBEAT_SECONDS"
    )
    # Objects in storage and selfie archives on the provider that no row refers to are
    # looked for this often, and removed once this old (work in flight is younger).
    orphan_collect_interval_seconds: float = Field(
        default=3600.0, gt=0, validation_alias="ORPHAN_COLLECT_INTERVAL_SECONDS"
    )
    orphan_grace_seconds: float = Field(
        default=3600.0, ge=60, validation_alias="ORPHAN_GRACE_SECONDS"
    )

    # Images: files under data_dir unless STORAGE_URL names a bucket. The store's endpoint
    # and credentials come from the standard AWS variables; the other sources of the
    # usual chain are read by the store's client, and here only to know one is there.
    storage_url: str | None = Field(default=None, validation_alias="STORAGE_URL")
    storage_public_endpoint_url: str | None = Field(
        default=None, validation_alias="STORAGE_PUBLIC_ENDPOINT_URL"
    )
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    aws_access_key_id: str | None = Field(default=None, validation_alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: str | None = Field(
        default=None, validation_alias="AWS_SECRET_ACCESS_KEY"
    )
    aws_session_token: str | None = Field(default=None, validation_alias="AWS_SESSION_TOKEN")
    aws_region: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    aws_web_identity_token_file: str | None = Field(
        default=None, validation_alias="AWS_WEB_IDENTITY_TOKEN_FILE"
    )
    aws_container_credentials_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"
        ),
    )
    aws_metadata_endpoint: str | None = Field(
        default=None, validation_alias="AWS_METADATA_ENDPOINT"
    )

    image_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, le=64, validation_alias="IMAGE_WORKERS"
    )

    host: str = Field(default="127.0.0.1", validation_alias="HOST")
    port: int = Field(default=8000, ge=0, le=65535, validation_alias="PORT")
    web_concurrency: int = Field(default=1, ge=1, le=64, validation_alias="WEB_CONCURRENCY")

    # /metrics: on the public port for `Authorization: Bearer <METRICS_TOKEN>`, and on
    # METRICS_HOST:METRICS_PORT for anyone reaching it. Neither set: no metrics are served.
    metrics_token: str | None = Field(default=None, validation_alias="METRICS_TOKEN")
    metrics_port: int | None = Field(default=None, ge=1, le=65535, validation_alias="METRICS_PORT")
    metrics_host: str = Field(default="127.0.0.1", validation_alias="METRICS_HOST")

    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    # Unset: JSON lines in production, console lines otherwise (see `log_format`).
    log_format_choice: LogFormat | None = Field(default=None, validation_alias="LOG_FORMAT")

    @field_validator(
        "database_url",
        "auth_jwt_secret",
        "oidc_issuer",
        "oidc_audience",
        "auth_jwt_issuer",
        "auth_jwt_audience",
        "replicate_api_token",
        "replicate_webhook_secret",
        "public_base_url",
        "storage_url",
        "storage_public_endpoint_url",
        "aws_endpoint_url",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region",
        "aws_web_identity_token_file",
        "aws_container_credentials_uri",
        "aws_metadata_endpoint",
        "metrics_token",
        "metrics_port",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def replicate_owners(self) -> tuple[str, ...]:
        """Where new users' models go, in order of preference."""
        extra = [owner.strip() for owner in self.replicate_extra_owners.split(",")]
        owners = [self.replicate_owner, *(owner for owner in extra if owner)]
        return tuple(dict.fromkeys(owners))

    @field_validator("public_base_url")
    @classmethod
    def _an_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(f"PUBLIC_BASE_URL must be an http(s) URL, not {value!r}")
        return value.strip().rstrip("/")

    @field_validator("storage_url")
    @classmethod
    def _a_bucket_url(cls, value: str | None) -> str | None:
        if value is not None:
            bucket_location(value)
        return value

    @field_validator("aws_endpoint_url", "storage_public_endpoint_url")
    @classmethod
    def _an_endpoint(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            name = str(info.field_name).upper()
            raise ValueError(f"{name} must be an http(s) URL, not {value!r}")
        return value.strip().rstrip("/")

    @field_validator("cors_allowed_origins_text")
    @classmethod
    def _exact_origins(cls, value: str) -> str:
        for origin in _split(value):
            if origin != "*" and normalize_origin(origin) != origin:
                raise ValueError(
                    f"CORS_ALLOWED_ORIGINS: {origin!r} is not an origin such as "
                    "https://app.example.com (scheme, lowercase host, port if not the "
                    "default; no path, no trailing slash)"
                )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _a_log_level(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        level = value.strip().upper() or "INFO"
        if level not in LOG_LEVELS:
            raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
        return level

    @field_validator("log_format_choice", mode="before")
    @classmethod
    def _a_log_format(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def log_format(self) -> LogFormat:
        """LOG_FORMAT, else JSON lines in production and console lines elsewhere."""
        if self.log_format_choice is not None:
            return self.log_format_choice
        return LogFormat.JSON if self.is_production else LogFormat.CONSOLE

    @property
    def cors_allowed_origins(self) -> tuple[str, ...]:
        """The exact origins whose pages may call the API; `*` for any (development only)."""
        return tuple(dict.fromkeys(_split(self.cors_allowed_origins_text)))

    @property
    def replicate_output_hosts(self) -> tuple[str, ...]:
        """Hosts generated images may be fetched from (`*.example.com` for subdomains).

        Replicate's API host is always among them: it serves outputs too.
        """
        api_host = urlsplit(self.replicate_api_base_url).hostname
        hosts = [host.lower() for host in _split(self.replicate_output_hosts_text)]
        return tuple(dict.fromkeys([*hosts, *([api_host.lower()] if api_host else [])]))

    @property
    def image_bucket(self) -> BucketLocation | None:
        """The bucket images live in, or None for files under data_dir."""
        return None if self.storage_url is None else bucket_location(self.storage_url)

    @property
    def replicate_webhook_url(self) -> str | None:
        if self.public_base_url is None:
            return None
        return self.public_base_url + "/webhooks/replicate"

    def deployment_problems(self) -> list[str]:
        """What makes these settings unfit to serve with, in words naming the variable."""
        problems = []
        if self.is_production and self.public_base_url is None:
            problems.append(
                "SSELFIE_ENV=production needs PUBLIC_BASE_URL (this server's public URL): "
                "image URLs and Replicate's webhooks are built from it."
            )
        if self.is_production and "*" in self.cors_allowed_origins:
            problems.append(
                "CORS_ALLOWED_ORIGINS=* is refused in production: list the exact origins "
                "of the web apps that call this API."
            )
        if self.is_production and self.database_url is None:
            problems.append(
                "SSELFIE_ENV=production needs DATABASE_URL: the embedded PostgreSQL is for "
                "development and tests only."
            )
        if self.is_production and self.oidc_issuer and self.oidc_audience is None:
            problems.append(
                "SSELFIE_ENV=production with OIDC_ISSUER needs OIDC_AUDIENCE (this API's "
                "client id or audience): without it, tokens the issuer made for any other "
                "application would be accepted."
            )
        if self.metrics_token is not None and len(self.metrics_token) < MIN_METRICS_TOKEN_LENGTH:
            problems.append(
                f"METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} characters: "
                "whoever guesses it reads the metrics."
            )
        problems.extend(self._storage_problems())
        return problems

    def _storage_problems(self) -> list[str]:
        if self.storage_url is None:
            return []
        keys = {
            "AWS_ACCESS_KEY_ID": self.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.aws_secret_access_key,
        }
        missing = [name for name, value in keys.items() if value is None]
        if len(missing) == 1:
            present = next(name for name in keys if name not in missing)
            return [f"STORAGE_URL needs {missing[0]} with {present}."]
        other_sources = (
            self.aws_web_identity_token_file,
            self.aws_container_credentials_uri,
            self.aws_metadata_endpoint,
        )
        if missing and all(source is None for source in other_sources):
            return [
                f"STORAGE_URL={self.storage_url} needs the store's credentials: "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_WEB_IDENTITY_TOKEN_FILE, "
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, or AWS_METADATA_ENDPOINT "
                "for the instance's own role)."
            ]
        return []


def bucket_location(storage_url: str) -> BucketLocation:
    """The bucket and prefix of `s3://BUCKET[/PREFIX]`; ValueError naming STORAGE_URL."""
    parts = urlsplit(storage_url.strip())
    prefix = parts.path.strip("/")
    segments = prefix.split("/") if prefix else []
    if (
        parts.scheme != "s3"
        or _BUCKET.fullmatch(parts.netloc) is None
        or parts.query
        or parts.fragment
        or len(prefix) > _PREFIX_MAX_LENGTH
        or "//" in parts.path
        or not all(_valid_prefix_segment(segment) for segment in segments)
    ):
        raise ValueError(
            f"STORAGE_URL must be {STORAGE_URL_FORM} (a bucket name, then optional path "
            f"segments of letters, digits, '.', '_' and '-'), or unset for files under "
            f"SSELFIE_DATA_DIR; not {storage_url!r}"
        )
    return BucketLocation(parts.netloc, prefix)


def _valid_prefix_segment(segment: str) -> bool:
    return _PREFIX_SEGMENT.fullmatch(segment) is not None and segment not in (".", "..")


def _split(origins: str) -> list[str]:
    return [origin.strip() for origin in origins.split(",") if origin.strip()]


def normalize_origin(origin: str) -> str | None:
    """`scheme://host[:port]` as browsers send it in `Origin`, or None if it is not one."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username is not None:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default_port = 443 if parts.scheme == "https" else 80
    suffix = f":{port}" if port is not None and port != default_port else ""
    return f"{parts.scheme}://{host}{suffix}"


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
