"""docker-compose.yml, read as Docker Compose would (no Docker here): its app services set
only real settings, enough of them to start in production, and share what they must."""

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from identity.setup import check_sign_in_settings
from settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
# `${NAME}`, `${NAME:-default}`, `${NAME:?message}`: Compose's interpolation.
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<kind>:[-?])(?P<rest>[^}]*))?\}")
FROM_THE_SHELL = "a-value-the-operator-sets-in-the-shell"


def setting_names() -> set[str]:
    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
    return names


def interpolated(value: object) -> str:
    def one(match: re.Match[str]) -> str:
        return match["rest"] if match["kind"] == ":-" else FROM_THE_SHELL

    return VARIABLE.sub(one, str(value)).replace("$$", "$")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


def app_services() -> dict[str, Any]:
    """The services built from this repository's Dockerfile."""
    return {name: service for name, service in services().items() if "build" in service}


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {name: interpolated(value) for name, value in service["environment"].items()}


def dockerfile_env() -> dict[str, str]:
    """The image's own `ENV NAME=value` settings."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", " ".join(re.findall(r"^ENV (.*)$", text, re.M)))
    return {name: value.strip('"') for name, value in pairs}


def settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in setting_names():  # this shell's settings play no part
        monkeypatch.delenv(name, raising=False)
    return load_settings(**{**dockerfile_env(), **environment(service)})


def test_two_replicas_of_the_app_are_built_from_the_dockerfile() -> None:
    assert len(app_services()) >= 2
    assert all(service["build"] == "." for service in app_services().values())


@pytest.mark.parametrize("name", sorted(app_services()))
def test_every_variable_an_app_service_sets_is_a_setting(name: str) -> None:
    unknown = set(app_services()[name]["environment"]) - setting_names()

    assert unknown == set()


@pytest.mark.parametrize("name", sorted(app_services()))
def test_each_replica_starts_in_production_with_a_bucket(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(app_services()[name], monkeypatch)

    check_sign_in_settings(settings)  # raises if no sign-in mode is usable
    assert settings.is_production
    assert settings.deployment_problems() == []
    assert settings.image_bucket is not None
    assert settings.public_base_url is not None


def test_the_replicas_share_the_database_and_the_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    replicas = [settings_of(service, monkeypatch) for service in app_services().values()]

    assert len({settings.database_url for settings in replicas}) == 1
    assert len({settings.storage_url for settings in replicas}) == 1
    assert len({settings.aws_endpoint_url for settings in replicas}) == 1


def test_the_replicas_reach_services_of_this_file_and_start_after_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for service in app_services().values():
        settings = settings_of(service, monkeypatch)
        database_host = urlsplit(settings.database_url or "").hostname
        store_host = urlsplit(settings.aws_endpoint_url or "").hostname
        bucket_maker = _service_making(settings)

        assert database_host in services()
        assert store_host in services()
        assert service["depends_on"][database_host]["condition"] == "service_healthy"
        assert service["depends_on"][bucket_maker]["condition"] == (
            "service_completed_successfully"
        )


def _service_making(settings: Settings) -> str:
    """The one-shot service that makes the replicas' bucket."""
    assert settings.image_bucket is not None
    makes = f"mb --ignore-existing store/{settings.image_bucket.bucket}"
    makers = [
        name
        for name, service in services().items()
        if makes in " ".join(service.get("entrypoint", []))
    ]
    assert len(makers) == 1, makers
    return makers[0]


def test_the_image_keeps_its_data_directory_in_a_volume() -> None:
    data_dir = dockerfile_env()["SSELFIE_DATA_DIR"]
    volumes = re.findall(r"^VOLUME (.*)$", (ROOT / "Dockerfile").read_text(), re.M)

    assert any(data_dir in volume for volume in volumes)
