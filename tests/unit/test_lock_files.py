"""The hash-locked requirements stay in step with pyproject.toml and name no index."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def _pinned(lock: str) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9._-]+)==(\S+) \\$", (ROOT / lock).read_text(), re.M)
    return {_name(name): version for name, version in pins}


@pytest.mark.parametrize(
    ("lock", "groups"),
    [
        ("requirements.lock", ["runtime"]),
        ("requirements-dev.lock", ["runtime", "dev", "embedded"]),
    ],
)
def test_every_dependency_is_pinned_with_hashes(lock: str, groups: list[str]) -> None:
    wanted = {
        "runtime": PROJECT["dependencies"],
        "dev": PROJECT["optional-dependencies"]["dev"],
        "embedded": PROJECT["optional-dependencies"]["embedded"],
    }
    text = (ROOT / lock).read_text()
    pinned = _pinned(lock)

    for group in groups:
        for requirement in wanted[group]:
            assert _name(requirement) in pinned, f"{requirement} is not in {lock}: run make lock"
    assert text.count("==") == len(pinned)
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", text)) >= len(pinned)
    assert not re.search(r"https?://|--index-url|--extra-index-url|--find-links", text)


def test_the_runtime_lock_agrees_with_the_development_lock() -> None:
    runtime, development = _pinned("requirements.lock"), _pinned("requirements-dev.lock")

    assert {name: development[name] for name in runtime} == runtime


def test_production_installs_neither_the_embedded_database_nor_unused_packages() -> None:
    runtime = _pinned("requirements.lock")

    assert "pgserver" not in runtime
    assert "authlib" not in runtime
