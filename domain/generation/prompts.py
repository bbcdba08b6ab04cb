"""Prompts as sent: whitespace tidied, the user's trigger word always present."""

import re

from domain.errors import BadUserInput

MAX_PROMPT_LENGTH = 1_000
MAX_DETAILS_LENGTH = 300


def squash_whitespace(text: str) -> str:
    """Whitespace runs (line breaks included) as single spaces, none at the ends."""
    return " ".join(text.split())


def maya_prompt(prompt: str, trigger_word: str) -> str:
    tidied = squash_whitespace(prompt)
    if not tidied:
        raise BadUserInput("Write a prompt: describe the photo you want.")
    if len(tidied) > MAX_PROMPT_LENGTH:
        raise BadUserInput(
            f"The prompt has {len(tidied)} characters; keep it to {MAX_PROMPT_LENGTH}."
        )
    if re.search(rf"\b{re.escape(trigger_word)}\b", tidied) is None:
        tidied = f"{trigger_word} {tidied}"
    return tidied


def photoshoot_details(details: str | None) -> str | None:
    if details is None:
        return None
    tidied = squash_whitespace(details)
    if len(tidied) > MAX_DETAILS_LENGTH:
        raise BadUserInput(
            f"The details have {len(tidied)} characters; keep them to {MAX_DETAILS_LENGTH}."
        )
    return tidied or None
