"""Every error the product shows is defined in `domain.errors` with its code; no code is a
literal elsewhere, and the domain's messages never name the API's fields."""

import ast
import importlib
import pkgutil
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

from graphql import GraphQLError, build_schema
from graphql.type import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

import domain.errors
from domain.errors import DomainError, ErrorCode, ModelNotReady, NextStep, NotFound
from schema.errors import NEXT_STEP_HOW, assign_error_codes

ROOT = Path(__file__).resolve().parents[2]
ERRORS_MODULE = domain.errors.__name__
ERRORS_FILE = ROOT / "domain" / "errors.py"
CODES = frozenset(code.value for code in ErrorCode)


def product_packages() -> list[str]:
    """The packages the product installs, as pyproject.toml lists them."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({pattern.split(".")[0].rstrip("*") for pattern in patterns})


def product_files(packages: list[str]) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def import_product_modules(packages: list[str]) -> None:
    for name in packages:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            importlib.import_module(module.name)


def all_subclasses(cls: type) -> Iterator[type]:
    subclass: type
    for subclass in cls.__subclasses__():
        yield subclass
        yield from all_subclasses(subclass)


def misplaced_errors(classes: list[type], packages: list[str]) -> list[str]:
    """Product-side DomainError subclasses defined outside domain.errors."""
    return [
        f"{cls.__module__}.{cls.__name__}"
        for cls in classes
        if cls.__module__.split(".")[0] in packages and cls.__module__ != ERRORS_MODULE
    ]


def uncoded_errors(classes: list[type]) -> list[str]:
    """DomainError subclasses that do not declare their own ErrorCode."""
    return [cls.__name__ for cls in classes if not isinstance(vars(cls).get("code"), ErrorCode)]


def literal_codes(source: str) -> list[str]:
    """String constants in `source` that spell an ErrorCode's value."""
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in CODES
    ]


def api_field_names() -> frozenset[str]:
    """The schema's camelCase field and argument names (single words read as English)."""
    schema = build_schema((ROOT / "schema.graphql").read_text())
    names: set[str] = set()
    for named in schema.type_map.values():
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in named.fields.items():
                names.add(field_name)
                names.update(getattr(field, "args", {}))
    return frozenset(name for name in names if re.search(r"[a-z][A-Z]", name))


def named_api_fields(source: str, fields: frozenset[str]) -> list[str]:
    words = {
        word
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        for word in re.findall(r"[A-Za-z]+", node.value)
    }
    return sorted(words & fields)


# -- every DomainError lives in domain.errors, with its code ---------------------------------


def test_every_domain_error_is_defined_in_domain_errors_with_its_code() -> None:
    packages = product_packages()
    import_product_modules(packages)
    classes = list(all_subclasses(DomainError))

    assert misplaced_errors(classes, packages) == []
    assert uncoded_errors([cls for cls in classes if cls.__module__ == ERRORS_MODULE]) == []
    assert {"ImageWorkersLost", "UpstreamUnavailable", "RateLimited", "ModelNotReady"} <= {
        cls.__name__ for cls in classes
    }


def test_an_error_defined_elsewhere_or_without_a_code_is_caught() -> None:
    # Not a real DomainError subclass: one would stay registered for the test above.
    stray = type("Stray", (Exception,), {"__module__": "domain.generation.service"})
    classes = [stray, *all_subclasses(DomainError)]

    assert misplaced_errors(classes, product_packages()) == ["domain.generation.service.Stray"]
    assert uncoded_errors([stray]) == ["Stray"]


# -- no error code is a string literal outside domain.errors ---------------------------------


def test_no_product_module_spells_an_error_code_as_a_literal() -> None:
    found = {
        str(path.relative_to(ROOT)): codes
        for path in product_files(product_packages())
        if path != ERRORS_FILE and (codes := literal_codes(path.read_text()))
    }

    assert found == {}


def test_a_literal_error_code_is_caught_and_an_enum_member_is_not() -> None:
    literal = 'await send_error(send, 400, "No.", "BAD_USER_INPUT")\n'
    member = "await send_error(send, 400, 'No.', ErrorCode.BAD_USER_INPUT)\n"
    prose = '"""Answers BAD_USER_INPUT when the body is too large."""\n'

    assert literal_codes(literal) == ["BAD_USER_INPUT"]
    assert literal_codes(member) == []
    assert literal_codes(prose) == []


# -- messages speak of the product; the schema layer names the API ---------------------------


def test_domain_and_persistence_texts_never_name_an_api_field() -> None:
    fields = api_field_names()
    found = {
        str(path.relative_to(ROOT)): names
        for path in product_files(["domain", "persistence"])
        if (names := named_api_fields(path.read_text(), fields))
    }

    assert {"startTraining", "trainingProgress", "photoshootStyles"} <= fields
    assert found == {}
    assert named_api_fields('raise X("Follow it with `trainingProgress`.")', fields) == [
        "trainingProgress"
    ]


def test_every_next_step_has_the_apis_way_to_take_it() -> None:
    assert set(NEXT_STEP_HOW) == set(NextStep)


def test_the_schema_layer_adds_the_apis_way_to_the_products_message() -> None:
    refusal = ModelNotReady("You have no model yet.", next_step=NextStep.TRAIN)
    plain = NotFound("No such generation among yours.")
    errors = [
        GraphQLError("raw", original_error=refusal),
        GraphQLError("raw", original_error=plain),
    ]

    assign_error_codes(errors, None)

    assert [error.message for error in errors] == [
        f"You have no model yet. {NEXT_STEP_HOW[NextStep.TRAIN]}",
        "No such generation among yours.",
    ]
    assert [error.extensions for error in errors] == [
        {"code": "MODEL_NOT_READY"},
        {"code": "NOT_FOUND"},
    ]
    assert "startTraining" in errors[0].message
