"""Which spelling of each locked generation parameter a trained version takes."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Each locked parameter and the names a version's input schema may give it.
LOCKED_PARAMETER_SPELLINGS: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt",),
    "guidance": ("guidance", "guidance_scale"),
    "num_inference_steps": ("num_inference_steps",),
    "lora_scale": ("lora_scale",),
    "num_outputs": ("num_outputs",),
    "aspect_ratio": ("aspect_ratio",),
    "output_format": ("output_format",),
    "output_quality": ("output_quality",),
    "go_fast": ("go_fast",),
    "disable_safety_checker": ("disable_safety_checker",),
    "seed": ("seed",),
}


@dataclass(frozen=True, slots=True)
class VersionInputs:
    """How a version names the locked parameters, or why it cannot take them."""

    names: dict[str, str]
    unusable_reason: str | None


def read_version_inputs(properties: Mapping[str, Any] | None) -> VersionInputs:
    if properties is None:
        return VersionInputs({}, "The trained version's inputs could not be read.")
    names: dict[str, str] = {}
    missing: list[str] = []
    for parameter, spellings in LOCKED_PARAMETER_SPELLINGS.items():
        found = next((name for name in spellings if name in properties), None)
        if found is None:
            missing.append(parameter)
        else:
            names[parameter] = found
    if missing:
        return VersionInputs(
            names,
            "The trained version does not take the studio's settings "
            f"({', '.join(missing)}); train again to get a version that does.",
        )
    return VersionInputs(names, None)


def version_id_from(output_version: str | None) -> str | None:
    """The version id from an output version "owner/name:<id>" (or a bare id)."""
    if not output_version:
        return None
    return output_version.rsplit(":", 1)[-1] or None
