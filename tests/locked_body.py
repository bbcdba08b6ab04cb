"""The locked prediction body, pinned by JSON type as well as value.

Python's `==` lets `95.0` pass for `95` and `0` for `false`; Replicate's schema checks
would not. So every locked input is compared by exact type (`type(x) is int` is False
for a bool) on the body as the server received and decoded it.
"""

import re
from collections.abc import Mapping
from typing import Any

from domain.generation.parameters import SEED_LIMIT

LOCKED_INPUT: dict[str, tuple[type, object]] = {
    "num_inference_steps": (int, 40),
    "lora_scale": (float, 0.95),
    "num_outputs": (int, 3),
    "aspect_ratio": (str, "3:4"),
    "output_format": (str, "png"),
    "output_quality": (int, 95),
    "go_fast": (bool, False),
    "disable_safety_checker": (bool, False),
}
GUIDANCE: tuple[type, object] = (float, 2.8)
# `<owner>/<model>:<version id>`, nothing before, after or in between.
_VERSION = re.compile(r"[A-Za-z0-9._-]+/[A-Za-z0-9._-]+:[A-Za-z0-9]+")


def assert_locked_body(
    body: Mapping[str, Any], *, version: str, guidance_name: str = "guidance_scale"
) -> None:
    """`body` (decoded JSON) runs `version` with the locked inputs, typed exactly."""
    assert type(body["version"]) is str
    assert body["version"] == version
    assert _VERSION.fullmatch(version), version
    sent = body["input"]
    for name, (kind, value) in {**LOCKED_INPUT, guidance_name: GUIDANCE}.items():
        assert type(sent[name]) is kind, f"{name}: {sent[name]!r} is not a JSON {kind.__name__}"
        assert sent[name] == value, f"{name}: {sent[name]!r} != {value!r}"
    seed = sent["seed"]
    assert type(seed) is int, f"seed: {seed!r} is not an integer"
    assert 0 <= seed < SEED_LIMIT
    assert type(sent["prompt"]) is str
    assert set(sent) == {*LOCKED_INPUT, guidance_name, "seed", "prompt"}
