"""The locked-body check itself: values equal under `==` but of another JSON type fail."""

import json
from typing import Any

import pytest

from tests.locked_body import assert_locked_body

VERSION = (
    "sandrasocial/u1-selfie-lora:5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
)


def body(**changes: object) -> dict[str, Any]:
    sent: dict[str, Any] = {
        "version": VERSION,
        "input": {
            "prompt": "user1 a portrait",
            "guidance_scale": 2.8,
            "num_inference_steps": 40,
            "lora_scale": 0.95,
            "num_outputs": 3,
            "aspect_ratio": "3:4",
            "output_format": "png",
            "output_quality": 95,
            "go_fast": False,
            "disable_safety_checker": False,
            "seed": 123_456,
        },
    }
    sent["input"].update(changes)
    decoded: dict[str, Any] = json.loads(json.dumps(sent))
    return decoded


def test_the_locked_body_passes() -> None:
    assert_locked_body(body(), version=VERSION)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("output_quality", 95.0),
        ("num_inference_steps", 40.0),
        ("go_fast", 0),
        ("disable_safety_checker", 0),
        ("num_outputs", True),
        ("guidance_scale", 3),
        ("lora_scale", "0.95"),
        ("aspect_ratio", 0.75),
        ("seed", 123_456.0),
        ("seed", 1_000_000),
        ("seed", -1),
        ("extra", 1),
    ],
)
def test_a_value_of_another_json_type_or_range_fails(name: str, value: object) -> None:
    with pytest.raises(AssertionError):
        assert_locked_body(body(**{name: value}), version=VERSION)


@pytest.mark.parametrize("version", ["sandrasocial/u1-selfie-lora", "u1:abc", "a/b:c:d", ""])
def test_a_version_not_model_colon_version_fails(version: str) -> None:
    sent = body()
    sent["version"] = version

    with pytest.raises(AssertionError):
        assert_locked_body(sent, version=version)
