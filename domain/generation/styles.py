"""The curated Photoshoot styles: prompt templates a user picks from instead of writing a prompt.

The catalogue lives in `photoshoot_styles.toml` beside this module (its header explains how to
edit it). A template holds two placeholders, each exactly once: `{trigger}`, the user's LoRA
trigger word, and `{details}`, the user's optional extra details, which stand as a sentence of
their own. Rendering is plain string replacement, never `str.format`: the details are inserted
after the trigger word is placed, so braces in them are kept literally.
"""

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from domain.generation.prompts import squash_whitespace

TRIGGER = "{trigger}"
DETAILS = "{details}"
DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("photoshoot_styles.toml")

_FIELDS = ("id", "name", "category", "description", "prompt")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_SENTENCE_ENDS = (".", "!", "?")
_CANNOT_FOLLOW_DETAILS = ",;:.!?)"
_TRAILING_SEPARATORS = ",;:"


def _as_sentence(details: str) -> str:
    """The user's details as a sentence of their own: capitalised and closed by punctuation."""
    text = squash_whitespace(details).rstrip(_TRAILING_SEPARATORS).rstrip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith(_SENTENCE_ENDS) else f"{text}."


@dataclass(frozen=True, slots=True)
class PhotoshootStyle:
    id: str
    name: str
    category: str
    description: str
    prompt_template: str

    def render(self, trigger_word: str, details: str | None) -> str:
        """The prompt: trigger word placed, details woven in (or their placeholder removed cleanly,
        with no doubled spaces or dangling punctuation)."""
        if not trigger_word.strip():
            raise ValueError("The trigger word must not be empty.")
        # Split on {details} first and place the trigger in the template's own text only, so
        # nothing in the trigger word or the details is ever read as a placeholder.
        before, _, after = self.prompt_template.partition(DETAILS)
        parts = (
            squash_whitespace(before.replace(TRIGGER, trigger_word)),
            _as_sentence(details) if details else "",
            squash_whitespace(after.replace(TRIGGER, trigger_word)),
        )
        return " ".join(part for part in parts if part)


class StyleCatalogue:
    """The styles on offer, in catalogue order, checked once when the catalogue is built."""

    def __init__(self, styles: Sequence[PhotoshootStyle]) -> None:
        by_id: dict[str, PhotoshootStyle] = {}
        for style in styles:
            _check_style(style)
            if style.id in by_id:
                raise ValueError(f"Duplicate photoshoot style id {style.id!r}.")
            by_id[style.id] = style
        self._by_id = by_id
        self._styles = tuple(by_id.values())

    @classmethod
    def load(cls, path: Path = DEFAULT_CATALOGUE_PATH) -> Self:
        """The catalogue in a TOML file of `[[styles]]` tables (see photoshoot_styles.toml)."""
        with path.open("rb") as file:
            data = tomllib.load(file)
        try:
            return cls(_parse_styles(data))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error

    def get(self, style_id: str) -> PhotoshootStyle | None:
        return self._by_id.get(style_id)

    def styles(self, category: str | None = None) -> list[PhotoshootStyle]:
        """The styles in catalogue order, only those of `category` (any case) if given."""
        if category is None:
            return list(self._styles)
        wanted = category.strip().casefold()
        return [style for style in self._styles if style.category.casefold() == wanted]

    @property
    def categories(self) -> list[str]:
        """Each category once, in the order it first appears in the catalogue."""
        return list(dict.fromkeys(style.category for style in self._styles))

    def __len__(self) -> int:
        return len(self._styles)


def _check_style(style: PhotoshootStyle) -> None:
    for field in ("id", "name", "category", "description", "prompt_template"):
        if not getattr(style, field).strip():
            raise ValueError(f"Photoshoot style {style.id!r}: {field} must not be empty.")
    for field in ("id", "category"):
        if _SLUG.fullmatch(getattr(style, field)) is None:
            raise ValueError(
                f"Photoshoot style {style.id!r}: {field} must be a lowercase slug like "
                "'editorial-magazine-cover'."
            )
    _check_template(style.id, style.prompt_template)


def _check_template(style_id: str, template: str) -> None:
    for placeholder in (TRIGGER, DETAILS):
        count = template.count(placeholder)
        if count != 1:
            raise _refusal(style_id, f"must contain {placeholder} exactly once, not {count} times")
    rest = template.replace(TRIGGER, "").replace(DETAILS, "")
    unknown = _PLACEHOLDER.findall(rest)
    if unknown:
        raise _refusal(style_id, f"has unknown placeholders {unknown}: use {TRIGGER}, {DETAILS}")
    if "{" in rest or "}" in rest:
        raise _refusal(style_id, "has a stray '{' or '}'")
    _check_details_placement(style_id, template)


def _check_details_placement(style_id: str, template: str) -> None:
    """{details} must stand as a sentence of its own, so it can vanish without leaving a mark."""
    before, _, after = template.partition(DETAILS)
    before, after = before.rstrip(), after.lstrip()
    if before and not before.endswith(_SENTENCE_ENDS):
        raise _refusal(style_id, f"must have {DETAILS} start a sentence (after '.', '!' or '?')")
    if after and after[0] in _CANNOT_FOLLOW_DETAILS:
        raise _refusal(style_id, f"must not have punctuation right after {DETAILS}")


def _refusal(style_id: str, problem: str) -> ValueError:
    return ValueError(f"Photoshoot style {style_id!r}: the prompt {problem}.")


def _parse_styles(data: Mapping[str, object]) -> list[PhotoshootStyle]:
    entries = data.get("styles")
    if not isinstance(entries, list) or not entries:
        raise ValueError("expected a non-empty array of [[styles]] tables.")
    unexpected = sorted(set(data) - {"styles"})
    if unexpected:
        raise ValueError(f"unexpected top-level keys {unexpected}.")
    return [_parse_style(entry, position) for position, entry in enumerate(entries, start=1)]


def _parse_style(entry: object, position: int) -> PhotoshootStyle:
    if not isinstance(entry, dict):
        raise ValueError(f"style #{position} is not a table.")
    missing = [field for field in _FIELDS if field not in entry]
    unknown = sorted(set(entry) - set(_FIELDS))
    if missing or unknown:
        raise ValueError(f"style #{position}: missing keys {missing}, unknown keys {unknown}.")
    values: dict[str, str] = {}
    for field in _FIELDS:
        value = entry[field]
        if not isinstance(value, str):
            raise ValueError(f"style #{position}: {field!r} must be a string.")
        values[field] = squash_whitespace(value)
    return PhotoshootStyle(
        id=values["id"],
        name=values["name"],
        category=values["category"],
        description=values["description"],
        prompt_template=values["prompt"],
    )
