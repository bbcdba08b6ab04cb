"""The locked generation parameters, and the one place a prediction's input is built."""

import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

SEED_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class GenerationParameters:
    """DEVELOPERS.md's locked values; only the seed changes, drawn fresh each time."""

    seed: int
    guidance: float = 2.8
    num_inference_steps: int = 40
    lora_scale: float = 0.95
    num_outputs: int = 3
    aspect_ratio: str = "3:4"
    output_format: str = "png"
    output_quality: int = 95
    go_fast: bool = False
    disable_safety_checker: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "GenerationParameters":
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})

    @property
    def content_type(self) -> str:
        return f"image/{self.output_format}"


def locked_parameters() -> GenerationParameters:
    return GenerationParameters(seed=secrets.randbelow(SEED_LIMIT))


def prediction_input(
    prompt: str, parameters: GenerationParameters, input_names: Mapping[str, str]
) -> dict[str, Any]:
    """The prediction's `input`, each value under the name the user's version takes."""
    values = {"prompt": prompt, **parameters.as_dict()}
    return {input_names[name]: value for name, value in values.items()}
