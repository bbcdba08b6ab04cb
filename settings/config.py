from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


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
    public_base_url: str | None = Field(default=None, validation_alias="PUBLIC_BASE_URL")

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

    host: str = Field(default="127.0.0.1", validation_alias="HOST")
    port: int = Field(default=8000, ge=0, le=65535, validation_alias="PORT")

    @field_validator(
        "database_url",
        "auth_jwt_secret",
        "oidc_issuer",
        "oidc_audience",
        "replicate_api_token",
        "replicate_webhook_secret",
        "public_base_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def replicate_owners(self) -> tuple[str, ...]:
        """Where new users' models go, in order of preference."""
        extra = [owner.strip() for owner in self.replicate_extra_owners.split(",")]
        owners = [self.replicate_owner, *(owner for owner in extra if owner)]
        return tuple(dict.fromkeys(owners))

    @property
    def replicate_webhook_url(self) -> str | None:
        if self.public_base_url is None:
            return None
        return self.public_base_url.rstrip("/") + "/webhooks/replicate"


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
