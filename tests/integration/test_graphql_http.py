"""The HTTP surface: CSRF, GraphiQL, limits, error codes, health."""

from collections.abc import AsyncIterator

import pytest
from graphql import get_introspection_query

from domain.users.service import UserService
from persistence import migrate
from schema.build import MAX_ALIASES, MAX_QUERY_DEPTH, MAX_TOKENS
from tests.integration.api import Api, error_codes, token_for

MULTIPART_QUERY = {"operations": '{"query": "{ me { id } }", "variables": {}}', "map": "{}"}


async def test_a_multipart_post_without_a_preflight_header_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        data=MULTIPART_QUERY,
        files={"unused": ("a.txt", b"x", "text/plain")},
        headers={"Authorization": f"Bearer {token_for('alice')}"},
    )

    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    assert "Apollo-Require-Preflight" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_other_simple_content_types_are_refused(api: Api, content_type: str) -> None:
    response = await api.client.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers={"Content-Type": content_type}
    )

    assert response.status_code == 400


@pytest.mark.parametrize("header", ["Apollo-Require-Preflight", "X-Apollo-Operation-Name"])
async def test_a_multipart_post_with_a_preflight_header_is_served(api: Api, header: str) -> None:
    response = await api.client.post(
        "/graphql",
        data=MULTIPART_QUERY,
        files={"unused": ("a.txt", b"x", "text/plain")},
        headers={header: "true", "Authorization": f"Bearer {token_for('alice')}"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"]["me"]["id"]


async def test_graphiql_is_served_in_development(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_production_serves_no_graphiql_introspection_or_suggestions(
    production_api: Api,
) -> None:
    page = await production_api.client.get("/graphql", headers={"Accept": "text/html"})
    introspection = await production_api.graphql(
        "{ __schema { types { name } } }", token=token_for("alice")
    )
    typo = await production_api.graphql("{ mee { id } }", token=token_for("alice"))

    assert page.status_code != 200 or "graphiql" not in page.text.lower()
    assert introspection["data"] is None
    assert set(error_codes(introspection)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "Did you mean" not in typo["errors"][0]["message"]


async def test_development_suggests_field_names(api: Api) -> None:
    typo = await api.graphql("{ mee { id } }", token=token_for("alice"))

    assert error_codes(typo) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Did you mean" in typo["errors"][0]["message"]


async def test_queries_are_served_over_get(api: Api) -> None:
    response = await api.client.get(
        "/graphql",
        params={"query": "{ me { id } }"},
        headers={"Authorization": f"Bearer {token_for('alice')}"},
    )

    assert response.status_code == 200
    assert response.json()["data"]["me"]["id"]


def _nested(depth: int) -> str:
    # The schema has no field that nests this deep yet: the depth limit is checked
    # beside field validation, so its own error must appear among the others.
    selection = "id"
    for _ in range(depth - 1):
        selection = f"model {{ {selection} }}"
    return f"{{ me {{ {selection} }} }}"


def _depth_errors(body: dict[str, object]) -> list[str]:
    errors = body.get("errors") or []
    assert isinstance(errors, list)
    return [error["message"] for error in errors if "maximum operation depth" in error["message"]]


async def test_too_deep_queries_are_refused(api: Api) -> None:
    too_deep = await api.graphql(_nested(MAX_QUERY_DEPTH + 1), token=token_for("alice"))
    deepest_allowed = await api.graphql(_nested(MAX_QUERY_DEPTH), token=token_for("alice"))

    assert too_deep.get("data") is None
    assert set(error_codes(too_deep)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert _depth_errors(too_deep)
    assert not _depth_errors(deepest_allowed)


@pytest.mark.parametrize("type_depth", [7, 9])
async def test_the_standard_introspection_queries_are_answered(api: Api, type_depth: int) -> None:
    # As GraphiQL 3 and Apollo's tools send it (graphql-js' getIntrospectionQuery).
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
        type_depth=type_depth,
    )

    body = await api.graphql(query)

    assert "errors" not in body, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


def _of_types(levels: int) -> str:
    return "{ ofType " * levels + "{ name }" + " }" * levels


DEEP_INTROSPECTION = {
    "30 levels of __schema": "{ __schema { types { fields { type " + _of_types(26) + " } } } }",
    "30 levels of __type": '{ __type(name: "User") { fields { type ' + _of_types(27) + " } } }",
    "30 levels through fragments": (
        "{ __schema { types { ...F } } } fragment F on __Type { fields { type { ...R } } }"
        " fragment R on __Type " + _of_types(26)
    ),
}


@pytest.mark.parametrize("query", DEEP_INTROSPECTION.values(), ids=DEEP_INTROSPECTION.keys())
async def test_deep_introspection_is_refused(api: Api, query: str) -> None:
    body = await api.graphql(query)

    assert body.get("data") is None
    assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert any("depth" in error["message"] for error in body["errors"]), body


async def test_nested_introspection_lists_are_refused(api: Api) -> None:
    body = await api.graphql(
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    )

    assert body.get("data") is None
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_too_many_aliases_are_refused(api: Api) -> None:
    aliases = " ".join(f"a{i}: me {{ id }}" for i in range(MAX_ALIASES + 1))

    body = await api.graphql(f"{{ {aliases} }}", token=token_for("alice"))

    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "aliases" in body["errors"][0]["message"]


async def test_too_many_tokens_are_refused(api: Api) -> None:
    fields = " ".join(["id"] * MAX_TOKENS)

    body = await api.graphql(f"{{ me {{ {fields} }} }}", token=token_for("alice"))

    assert error_codes(body) == ["GRAPHQL_PARSE_FAILED"]
    assert "tokens" in body["errors"][0]["message"]


async def test_an_unexpected_failure_is_masked_and_carries_a_request_id(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(self: UserService, user_ids: object) -> object:
        raise RuntimeError("secret internals")

    await api.graphql("{ me { id } }", token=token_for("alice"))
    monkeypatch.setattr(UserService, "models_for_users", explode)

    response = await api.post("{ me { model { id } } }", token=token_for("alice"))

    body = response.json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret internals" not in error["message"]
    request_id = error["extensions"]["requestId"]
    assert response.headers["X-Request-Id"] == request_id
    assert any(request_id in record.getMessage() for record in caplog.records)


async def test_health_and_readiness(api: Api) -> None:
    health = await api.client.get("/healthz")
    ready = await api.client.get("/readyz")

    assert health.status_code == 200
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_readiness_in_production_reveals_no_internals(
    production_api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ready = await production_api.client.get("/readyz")

    async def behind(_engine: object) -> tuple[bool, str]:
        return False, "0002"

    async def unreachable(_engine: object) -> tuple[bool, str]:
        raise ConnectionRefusedError("db.internal:5432 refused")

    monkeypatch.setattr(migrate, "is_at_head", behind)
    not_at_head = await production_api.client.get("/readyz")
    monkeypatch.setattr(migrate, "is_at_head", unreachable)
    down = await production_api.client.get("/readyz")

    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    for response in (not_at_head, down):
        assert (response.status_code, response.json()) == (503, {"status": "unavailable"})
    logged = caplog.text
    assert "0002" in logged
    assert "ConnectionRefusedError" in logged


async def test_readiness_in_development_gives_its_reason(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(_engine: object) -> tuple[bool, str]:
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(migrate, "is_at_head", unreachable)
    down = await api.client.get("/readyz")

    assert down.status_code == 503
    assert down.json()["reason"] == "database unreachable: ConnectionRefusedError"


async def test_an_oversized_json_body_is_refused(api: Api) -> None:
    padding = "#" + "x" * (1024 * 1024)

    response = await api.client.post(
        "/graphql",
        json={"query": "{ me { id } }" + padding},
        headers={"Authorization": f"Bearer {token_for('alice')}"},
    )

    assert response.status_code == 413
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_an_oversized_body_without_a_declared_length_is_refused(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ me { id } }", "padding": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = await api.client.post(
        "/graphql",
        content=chunks(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token_for('alice')}",
        },
    )

    assert response.status_code == 413


async def test_mutations_are_refused_over_get(api: Api) -> None:
    response = await api.client.get(
        "/graphql",
        params={"query": 'mutation { cancelTraining(id: "x") { id } }'},
        headers={"Authorization": f"Bearer {token_for('alice')}"},
    )

    assert response.status_code == 400
    assert "mutations are not allowed" in response.text.lower()
