import re
from dataclasses import replace
from pathlib import Path

import pytest

from domain.generation.styles import DEFAULT_CATALOGUE_PATH, PhotoshootStyle, StyleCatalogue

TRIGGER_WORD = "user42"
REQUIRED_CATEGORIES = {"editorial", "business", "lifestyle", "evening", "outdoors"}
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
DETAILS_300 = ("with short curly hair and round tortoiseshell glasses, " * 6)[:299] + "."
DETAILS_CHOICES = [
    None,
    "wearing a red scarf",
    "Wearing a red scarf.",
    "holding a small bouquet of tulips,",
    DETAILS_300,
]

CATALOGUE = StyleCatalogue.load()
ALL_STYLES = CATALOGUE.styles()


def style(
    style_id: str = "a-style",
    category: str = "editorial",
    prompt: str = "A portrait of {trigger} in a studio. {details} Soft light.",
) -> PhotoshootStyle:
    return PhotoshootStyle(
        id=style_id,
        name="A Style",
        category=category,
        description="A style for tests.",
        prompt_template=prompt,
    )


# --- the shipped catalogue ----------------------------------------------------------------


def test_the_shipped_catalogue_is_beside_the_module_and_big_enough() -> None:
    assert DEFAULT_CATALOGUE_PATH.name == "photoshoot_styles.toml"
    assert len(ALL_STYLES) >= 12
    assert len(CATALOGUE.categories) >= 5
    assert set(CATALOGUE.categories) >= REQUIRED_CATEGORIES
    for category in REQUIRED_CATEGORIES:
        assert CATALOGUE.styles(category), category


def test_ids_are_unique_slugs() -> None:
    ids = [s.id for s in ALL_STYLES]

    assert len(ids) == len(set(ids))
    assert all(SLUG.fullmatch(style_id) for style_id in ids), ids


def test_descriptions_are_sentences_and_templates_stay_short() -> None:
    for s in ALL_STYLES:
        assert s.description.endswith("."), s.id
        assert len(s.prompt_template) <= 600, s.id
        assert s.prompt_template.index("{trigger}") < 80, s.id


@pytest.mark.parametrize("details", DETAILS_CHOICES)
@pytest.mark.parametrize("shipped", ALL_STYLES, ids=lambda s: s.id)
def test_every_rendered_prompt_is_clean(shipped: PhotoshootStyle, details: str | None) -> None:
    prompt = shipped.render(TRIGGER_WORD, details)

    assert prompt.count(TRIGGER_WORD) == 1
    assert "{" not in prompt
    assert "}" not in prompt
    assert "  " not in prompt
    assert prompt == prompt.strip()
    assert not re.search(r"\s[.,;:!?]|[.,;:]{2}|\.\s*,", prompt), prompt
    assert len(prompt) <= 1_000
    if details is not None:
        assert details.rstrip(".,")[1:] in prompt


def test_details_are_woven_in_as_their_own_sentence() -> None:
    shipped = CATALOGUE.get("business-professional-headshot")
    assert shipped is not None

    without = shipped.render(TRIGGER_WORD, None)
    with_details = shipped.render(TRIGGER_WORD, "wearing a red scarf")

    assert "white shirt. Wearing a red scarf. Bright" in with_details
    assert "white shirt. Bright" in without
    assert with_details.replace(" Wearing a red scarf.", "") == without


# --- rendering ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "details", ["{trigger}", "{details}", "{0}", "A {trigger} and {details} and {0} and {name}"]
)
def test_braces_in_details_are_kept_literally(details: str) -> None:
    prompt = style().render(TRIGGER_WORD, details)

    assert details in prompt
    assert prompt.count(TRIGGER_WORD) == 1


def test_a_trigger_word_with_braces_is_not_read_as_a_placeholder() -> None:
    prompt = style().render("{details}", "wearing a hat")

    assert prompt == "A portrait of {details} in a studio. Wearing a hat. Soft light."


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("{details} A portrait of {trigger}.", "A portrait of user42."),
        ("A portrait of {trigger}. {details}", "A portrait of user42."),
        ("A portrait of {trigger}!   {details}\n Soft light.", "A portrait of user42! Soft light."),
    ],
)
def test_no_details_leave_no_trace(prompt: str, expected: str) -> None:
    assert style(prompt=prompt).render(TRIGGER_WORD, None) == expected
    assert style(prompt=prompt).render(TRIGGER_WORD, "") == expected


def test_an_empty_trigger_word_is_refused() -> None:
    with pytest.raises(ValueError, match="trigger word"):
        style().render(" ", None)


# --- listing ------------------------------------------------------------------------------


def test_list_keeps_file_order_and_filters_by_category_in_any_case() -> None:
    editorial = CATALOGUE.styles("editorial")

    assert editorial
    assert all(s.category == "editorial" for s in editorial)
    assert CATALOGUE.styles("EDITORIAL") == editorial
    assert CATALOGUE.styles("Editorial") == editorial
    assert editorial == [s for s in ALL_STYLES if s.category == "editorial"]
    assert CATALOGUE.styles("underwater") == []


def test_categories_are_listed_once_in_order_of_appearance() -> None:
    catalogue = StyleCatalogue(
        [style("one", "evening"), style("two", "business"), style("three", "evening")]
    )

    assert catalogue.categories == ["evening", "business"]
    assert [s.id for s in catalogue.styles()] == ["one", "two", "three"]


def test_get_finds_a_style_by_id() -> None:
    first = ALL_STYLES[0]

    assert CATALOGUE.get(first.id) is first
    assert CATALOGUE.get("no-such-style") is None


# --- refusing bad catalogues --------------------------------------------------------------


@pytest.mark.parametrize(
    ("styles", "message"),
    [
        ([style("same"), style("same")], "Duplicate"),
        ([style(prompt="A portrait in a studio. {details}")], r"\{trigger\} exactly once"),
        ([style(prompt="{trigger} and {trigger}. {details}")], r"\{trigger\} exactly once"),
        ([style(prompt="A portrait of {trigger}.")], r"\{details\} exactly once"),
        ([style(prompt="Of {trigger}. {details} More. {details}")], r"\{details\} exactly once"),
        ([style(prompt="A portrait of {trigger}, {name}. {details}")], "unknown placeholder"),
        ([style(prompt="A portrait of {trigger}, {0}. {details}")], "unknown placeholder"),
        ([style(prompt="A portrait of {trigger} {. {details}")], "stray"),
        ([style(prompt="A portrait of {trigger}, {details} in a studio.")], "start a sentence"),
        ([style(prompt="A portrait of {trigger}. {details}, in a studio.")], "punctuation"),
        ([style("Not A Slug")], "slug"),
        ([style(category="Evening Wear")], "slug"),
        ([replace(style(), name=" ")], "name must not be empty"),
        ([replace(style(), description="")], "description must not be empty"),
        ([style(prompt="")], "prompt_template must not be empty"),
    ],
)
def test_bad_catalogues_are_refused(styles: list[PhotoshootStyle], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StyleCatalogue(styles)


# --- loading ------------------------------------------------------------------------------

GOOD_TOML = '''
[[styles]]
id = "test-style"
name = "Test"
category = "Outdoors"
description = "A test."
prompt = """
A portrait of {trigger}
  in a field. {details}
Golden hour.
"""
'''


def test_load_reads_a_toml_file_and_collapses_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "styles.toml"
    path.write_text(GOOD_TOML.replace('"Outdoors"', '"outdoors"'), encoding="utf-8")

    catalogue = StyleCatalogue.load(path)

    loaded = catalogue.get("test-style")
    assert loaded is not None
    assert loaded.prompt_template == "A portrait of {trigger} in a field. {details} Golden hour."
    assert loaded.render("user7", None) == "A portrait of user7 in a field. Golden hour."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "non-empty array"),
        ("styles = []", "non-empty array"),
        ('title = "x"\n' + GOOD_TOML, "unexpected top-level keys"),
        (GOOD_TOML.replace("name =", "title ="), "missing keys"),
        (GOOD_TOML.replace('name = "Test"', 'name = "Test"\ncolour = "red"'), "unknown keys"),
        (GOOD_TOML.replace('name = "Test"', "name = 3"), "must be a string"),
        (GOOD_TOML, "slug"),
    ],
)
def test_load_refuses_a_malformed_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "styles.toml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ValueError, match=message):
        StyleCatalogue.load(path)
