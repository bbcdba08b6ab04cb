"""Cog input schemas (the trainer's and a trained FLUX LoRA version's) and input validation."""

from collections.abc import Iterable
from typing import Any

ASPECT_RATIOS = ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"]
OUTPUT_FORMATS = ["webp", "jpg", "png"]
MEGAPIXELS = ["1", "0.25"]

Property = dict[str, Any]


def _prop(kind: str, order: int, description: str, **more: Any) -> Property:
    title = more.pop("title", None)
    prop: Property = {"type": kind, "x-order": order, "description": description, **more}
    if title:
        prop["title"] = title
    return prop


def _openapi(properties: dict[str, Property], required: list[str], enums: dict[str, Any]) -> Any:
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "title": "Input",
                    "required": required,
                    "properties": properties,
                },
                "Output": {"type": "array", "items": {"type": "string", "format": "uri"}},
                **enums,
            }
        },
    }


def trainer_schema() -> dict[str, Any]:
    """The inputs of ostris/flux-dev-lora-trainer (replicate/flux-fine-tuner)."""
    properties = {
        "input_images": _prop("string", 0, "A zip file of the training images.", format="uri"),
        "trigger_word": _prop("string", 1, "The trigger word.", default="TOK"),
        "autocaption": _prop("boolean", 2, "Caption images with LLaVa/Florence.", default=True),
        "autocaption_prefix": _prop("string", 3, "Text before each automatic caption."),
        "autocaption_suffix": _prop("string", 4, "Text after each automatic caption."),
        "steps": _prop("integer", 5, "Training steps.", default=1000, minimum=3, maximum=6000),
        "lora_rank": _prop("integer", 6, "LoRA rank.", default=16, minimum=1, maximum=128),
        "optimizer": _prop("string", 7, "Optimizer.", default="adamw8bit"),
        "batch_size": _prop("integer", 8, "Batch size.", default=1, minimum=1),
        "resolution": _prop("string", 9, "Bucket resolutions.", default="512,768,1024"),
        "learning_rate": _prop("number", 10, "Learning rate.", default=0.0004),
        "caption_dropout_rate": _prop(
            "number", 11, "Caption dropout.", default=0.05, minimum=0, maximum=1
        ),
        "cache_latents_to_disk": _prop("boolean", 12, "Cache latents to disk.", default=False),
        "gradient_checkpointing": _prop("boolean", 13, "Gradient checkpointing.", default=False),
    }
    return dict(_openapi(properties, ["input_images"], {}))


def _enum(name: str, values: list[str]) -> Property:
    return {"enum": values, "type": "string", "title": name, "description": "An enumeration."}


def _choice(
    name: str, values: list[str], order: int, description: str, default: str, inline: bool
) -> Property:
    """Cog renders choices as an `allOf` reference to an enum schema; `inline` puts it in place."""
    if inline:
        return _prop("string", order, description, enum=values, default=default)
    return {
        "allOf": [{"$ref": f"#/components/schemas/{name}"}],
        "x-order": order,
        "description": description,
        "default": default,
    }


def lora_version_schema(
    *, guidance_name: str, drop: Iterable[str], inline_enums: bool
) -> dict[str, Any]:
    """The schema of a version produced by the trainer (replicate/cog-flux's LoRA predictor)."""
    properties: dict[str, Property] = {
        "prompt": _prop("string", 0, "Prompt for generated image.", title="Prompt"),
        "image": _prop("string", 1, "Input image for image-to-image mode.", format="uri"),
        "aspect_ratio": _choice(
            "aspect_ratio",
            ASPECT_RATIOS,
            3,
            "Aspect ratio for the generated image.",
            "1:1",
            inline_enums,
        ),
        "num_outputs": _prop(
            "integer", 6, "Number of outputs to generate.", default=1, minimum=1, maximum=4
        ),
        "num_inference_steps": _prop(
            "integer", 7, "Number of denoising steps.", default=28, minimum=1, maximum=50
        ),
        guidance_name: _prop(
            "number",
            8,
            "Guidance scale for the diffusion process.",
            default=3,
            minimum=0,
            maximum=10,
        ),
        "seed": _prop("integer", 9, "Random seed. Set for reproducible generation."),
        "output_format": _choice(
            "output_format",
            OUTPUT_FORMATS,
            10,
            "Format of the output images.",
            "webp",
            inline_enums,
        ),
        "output_quality": _prop(
            "integer",
            11,
            "Quality when saving the output images.",
            default=80,
            minimum=0,
            maximum=100,
        ),
        "disable_safety_checker": _prop(
            "boolean", 12, "Disable safety checker for generated images.", default=False
        ),
        "go_fast": _prop("boolean", 13, "Run faster predictions (fp8).", default=False),
        "megapixels": _choice(
            "megapixels", MEGAPIXELS, 14, "Approximate number of megapixels.", "1", inline_enums
        ),
        "lora_scale": _prop(
            "number",
            15,
            "How strongly the main LoRA should be applied.",
            default=1,
            minimum=-1,
            maximum=3,
        ),
        "extra_lora": _prop("string", 16, "Load LoRA weights (a URL or model name)."),
        "extra_lora_scale": _prop(
            "number",
            17,
            "How strongly the extra LoRA should be applied.",
            default=1,
            minimum=-1,
            maximum=3,
        ),
    }
    for name in drop:
        properties.pop(name, None)
    enums = (
        {}
        if inline_enums
        else {
            "aspect_ratio": _enum("aspect_ratio", ASPECT_RATIOS),
            "output_format": _enum("output_format", OUTPUT_FORMATS),
            "megapixels": _enum("megapixels", MEGAPIXELS),
        }
    )
    required = ["prompt"] if "prompt" in properties else []
    return dict(_openapi(properties, required, enums))


def input_properties(openapi: dict[str, Any]) -> dict[str, Property]:
    properties: dict[str, Property] = openapi["components"]["schemas"]["Input"]["properties"]
    return properties


def _resolve(prop: Property, openapi: dict[str, Any]) -> Property:
    resolved = dict(prop)
    for part in resolved.pop("allOf", []):
        name = str(part["$ref"]).rsplit("/", 1)[-1]
        resolved = {**openapi["components"]["schemas"][name], **resolved}
    return resolved


def _type_ok(kind: str | None, value: Any) -> bool:
    if isinstance(value, bool):
        return kind in (None, "boolean")
    checks: dict[str, type | tuple[type, ...]] = {
        "integer": int,
        "number": (int, float),
        "string": str,
        "boolean": bool,
    }
    return kind is None or isinstance(value, checks.get(kind, object))


def _value_errors(name: str, value: Any, prop: Property) -> list[dict[str, str]]:
    field = f"input.{name}"
    if not _type_ok(prop.get("type"), value):
        expected = f"Invalid type. Expected: {prop.get('type')}"
        return [{"type": "type", "field": field, "description": expected}]
    problems: list[tuple[str, str]] = []
    if "enum" in prop and value not in prop["enum"]:
        allowed = ", ".join(f'"{option}"' for option in prop["enum"])
        problems.append(("enum", f"{name} must be one of the following: {allowed}"))
    if "minimum" in prop and value < prop["minimum"]:
        problems.append(("number_gte", f"Must be greater than or equal to {prop['minimum']}"))
    if "maximum" in prop and value > prop["maximum"]:
        problems.append(("number_lte", f"Must be less than or equal to {prop['maximum']}"))
    return [{"type": kind, "field": field, "description": text} for kind, text in problems]


def validate_input(openapi: dict[str, Any], values: dict[str, Any]) -> list[dict[str, str]]:
    """Cog-style `invalid_fields`; unknown inputs are ignored, as Cog does."""
    schema = openapi["components"]["schemas"]["Input"]
    errors = [
        {"type": "required", "field": "input", "description": f"{name} is required"}
        for name in schema.get("required", [])
        if name not in values
    ]
    for name, value in values.items():
        prop = schema["properties"].get(name)
        if prop is not None:
            errors.extend(_value_errors(name, value, _resolve(prop, openapi)))
    return errors
