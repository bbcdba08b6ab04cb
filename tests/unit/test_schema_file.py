from pathlib import Path

from schema import build_schema

ROOT = Path(__file__).resolve().parents[2]


def test_the_checked_in_schema_is_what_the_code_builds() -> None:
    checked_in = (ROOT / "schema.graphql").read_text()

    assert checked_in == build_schema().as_str() + "\n", "run `make schema` and commit it"


def test_production_and_development_expose_the_same_schema() -> None:
    assert build_schema(production=True).as_str() == build_schema().as_str()
