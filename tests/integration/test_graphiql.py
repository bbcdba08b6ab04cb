"""GraphiQL over HTTP: the page and every asset come from this server, in development only."""

import gzip
import hashlib
from pathlib import Path

import pytest

from server import graphiql
from tests.integration.api import Api
from tests.unit.test_graphiql_assets import page_tags

HTML = {"Accept": "text/html"}
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


async def _page_references(api: Api) -> list[str]:
    page = await api.client.get("/graphql", headers=HTML)
    assert page.status_code == 200
    tags = page_tags(page.text)
    references = [*tags.scripts, *tags.stylesheets]
    assert all(reference is not None for reference in references)
    return [reference for reference in references if reference is not None]


async def test_development_serves_the_graphiql_page_with_same_origin_assets(api: Api) -> None:
    page = await api.client.get("/graphql", headers=HTML)
    tags = page_tags(page.text)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert len(tags.scripts) == 4
    assert len(tags.stylesheets) == 2
    for reference in [*tags.scripts, *tags.stylesheets]:
        assert reference is not None
        assert reference.startswith(("/graphiql/static/", "/graphiql/page/"))
    assert "http://" not in page.text
    assert "https://" not in page.text


async def test_every_referenced_asset_is_served_intact_with_its_type(api: Api) -> None:
    manifest = graphiql.load_manifest()

    for reference in await _page_references(api):
        response = await api.client.get(reference)
        name = reference.removeprefix("/graphiql/static/").removeprefix("/graphiql/page/")

        assert response.status_code == 200, reference
        assert response.headers["content-type"] == MEDIA_TYPES[Path(name).suffix]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert len(response.content) > 100
        if name in manifest["sha256"]:  # vendored: versioned path, cached for a year
            digest = hashlib.sha256(response.content).hexdigest()
            assert digest == manifest["sha256"][name]
            assert len(response.content) > 5_000
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        else:  # the page's own script and stylesheet
            assert response.headers["cache-control"] == "no-cache"


async def test_the_large_bundle_is_sent_gzipped_and_revalidated_by_etag(api: Api) -> None:
    manifest = graphiql.load_manifest()
    name = next(script for script in manifest["scripts"] if "graphiql" in script)
    url = f"/graphiql/static/{name}"

    raw = await api.client.get(url, headers={"Accept-Encoding": "identity"})
    async with api.client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as compressed:
        wire = b"".join([chunk async for chunk in compressed.aiter_raw()])
    again = await api.client.get(url, headers={"If-None-Match": raw.headers["etag"]})

    assert "content-encoding" not in raw.headers
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.headers["vary"] == "Accept-Encoding"
    assert len(wire) < len(raw.content) / 3
    assert gzip.decompress(wire) == raw.content
    assert again.status_code == 304
    assert again.content == b""


async def test_licences_are_served_beside_the_assets(api: Api) -> None:
    manifest = graphiql.load_manifest()

    for package, name in manifest["licences"].items():
        response = await api.client.get(f"/graphiql/static/{name}")

        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert "MIT" in response.text
        if " " not in package:
            assert response.text.startswith(f"{package} {manifest['versions'][package]}\n")


@pytest.mark.parametrize(
    "path",
    [
        "/graphiql/static/missing.js",
        "/graphiql/static/../__init__.py",
        "/graphiql/static/%2e%2e/__init__.py",
        "/graphiql/static/",
        "/graphiql/page/",
        "/graphiql/page/../page.html",
    ],
)
async def test_nothing_else_is_served_from_there(api: Api, path: str) -> None:
    response = await api.client.get(path)

    assert response.status_code == 404


async def test_production_serves_neither_graphiql_nor_its_assets(
    production_api: Api,
) -> None:
    manifest = graphiql.load_manifest()

    page = await production_api.client.get("/graphql", headers=HTML)
    asset = await production_api.client.get(f"/graphiql/static/{manifest['scripts'][0]}")

    assert page.status_code == 404
    assert "graphiql" not in page.text.lower()
    assert asset.status_code == 404


async def test_a_query_is_still_answered_over_get_and_post(api: Api) -> None:
    get = await api.client.get("/graphql", params={"query": "{ __typename }"}, headers=HTML)
    post = await api.client.post("/graphql", json={"query": "{ __typename }"}, headers=HTML)

    assert get.json() == {"data": {"__typename": "Query"}}
    assert post.json() == {"data": {"__typename": "Query"}}


async def test_head_answers_without_a_body(api: Api) -> None:
    manifest = graphiql.load_manifest()
    response = await api.client.head(f"/graphiql/static/{manifest['stylesheets'][0]}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.content == b""
