from domain.training.versions import read_version_inputs, version_id_from

FLUX_LORA_INPUTS = {
    name: {"type": "string"}
    for name in (
        "prompt",
        "guidance_scale",
        "num_inference_steps",
        "lora_scale",
        "num_outputs",
        "aspect_ratio",
        "output_format",
        "output_quality",
        "go_fast",
        "megapixels",
        "disable_safety_checker",
        "seed",
    )
}


def test_a_version_spelling_guidance_scale_is_usable() -> None:
    inputs = read_version_inputs(FLUX_LORA_INPUTS)

    assert inputs.unusable_reason is None
    assert inputs.names["guidance"] == "guidance_scale"
    assert inputs.names["seed"] == "seed"


def test_a_version_spelling_guidance_is_usable() -> None:
    properties = {**FLUX_LORA_INPUTS, "guidance": {}}
    del properties["guidance_scale"]

    assert read_version_inputs(properties).names["guidance"] == "guidance"


def test_a_version_missing_a_locked_input_is_not_usable() -> None:
    properties = dict(FLUX_LORA_INPUTS)
    del properties["lora_scale"]

    inputs = read_version_inputs(properties)

    assert inputs.unusable_reason is not None
    assert "lora_scale" in inputs.unusable_reason


def test_an_unreadable_schema_is_not_usable() -> None:
    assert read_version_inputs(None).unusable_reason is not None


def test_version_ids_are_read_from_the_output() -> None:
    assert version_id_from("sandrasocial/abc-selfie-lora:" + "f" * 64) == "f" * 64
    assert version_id_from(None) is None
    assert version_id_from("") is None
