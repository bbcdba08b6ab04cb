"""A small GraphQL client over the in-process application, and token helpers."""

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey

TEST_SECRET = "a-test-signing-secret-that-is-long-enough"


def token_for(subject: str, *, secret: str = TEST_SECRET, **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": subject, "iat": now, "exp": now + 600, **claims}
    return jwt.encode({"alg": "HS256"}, payload, OctKey.import_key(secret))


@dataclass
class Api:
    client: httpx.AsyncClient

    async def post(
        self,
        query: str,
        *,
        token: str | None = None,
        authorization: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if authorization is not None:
            headers["Authorization"] = authorization
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def upload(
        self,
        query: str,
        files: list[tuple[str, bytes]],
        *,
        token: str,
        variable: str = "input.images",
        variables: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A GraphQL multipart request (the upload spec), files placed at `variable`."""
        values: dict[str, Any] = dict(variables or {})
        target, _, field = variable.partition(".")
        values.setdefault(target, {})[field] = [None] * len(files)
        operations = json.dumps({"query": query, "variables": values})
        mapping = {str(i): [f"variables.{variable}.{i}"] for i in range(len(files))}
        response = await self.client.post(
            "/graphql",
            data={"operations": operations, "map": json.dumps(mapping)},
            files=[(str(i), (name, content)) for i, (name, content) in enumerate(files)],
            headers={"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "true"},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def graphql(self, query: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.post(query, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]
