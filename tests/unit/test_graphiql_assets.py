"""GraphiQL's vendored assets: pinned, intact, licensed, same-origin and packaged."""

import hashlib
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from server import graphiql
from server.graphiql import build_assets

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = graphiql.PACKAGE_DIR / "assets-src"
VENDORED = ("graphiql", "react", "react-dom")


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


class _Tags(HTMLParser):
    """The page's script and stylesheet references."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.stylesheets: list[str | None] = []
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes.get("src"))
        elif tag == "link":
            self.links.append(attributes)
            if attributes.get("rel") == "stylesheet":
                self.stylesheets.append(attributes.get("href"))


def page_tags(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    return tags


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return graphiql.load_manifest()


@pytest.fixture(scope="module")
def lock() -> dict[str, Any]:
    return _json(SOURCE_DIR / "package-lock.json")


def test_vendored_versions_are_the_locked_and_pinned_ones(
    manifest: dict[str, Any], lock: dict[str, Any]
) -> None:
    pinned = _json(SOURCE_DIR / "package.json")["dependencies"]
    locked = {name: lock["packages"][f"node_modules/{name}"]["version"] for name in VENDORED}

    assert manifest["versions"] == locked
    assert {name: pinned[name] for name in VENDORED} == locked  # exact pins, no ranges
    assert lock["packages"][""]["dependencies"] == pinned


def test_the_lockfile_names_no_download_location(lock: dict[str, Any]) -> None:
    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            return set(value).union(*(keys(item) for item in value.values()))
        if isinstance(value, list):
            return set().union(*(keys(item) for item in value))
        return set()

    assert "resolved" not in keys(lock)
    assert all("integrity" in entry for key, entry in lock["packages"].items() if key)


def test_every_vendored_file_is_the_one_recorded(manifest: dict[str, Any]) -> None:
    on_disk = {
        path.relative_to(graphiql.STATIC_DIR).as_posix()
        for path in graphiql.STATIC_DIR.rglob("*")
        if path.is_file()
    }

    assert on_disk == {*manifest["sha256"], build_assets.MANIFEST_NAME}
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((graphiql.STATIC_DIR / name).read_bytes()).hexdigest() == digest


def test_vendored_files_sit_in_versioned_folders_without_source_maps(
    manifest: dict[str, Any],
) -> None:
    versions = manifest["versions"]
    folders = {f"{name}-{version}" for name, version in versions.items()}

    for name in [*manifest["scripts"], *manifest["stylesheets"]]:
        assert name.split("/")[0] in folders
        content = (graphiql.STATIC_DIR / name).read_bytes()
        assert len(content) > 5_000
        assert b"sourceMappingURL" not in content[-500:]
    assert manifest["scripts"] == [
        f"react-{versions['react']}/react.production.min.js",
        f"react-dom-{versions['react-dom']}/react-dom.production.min.js",
        f"graphiql-{versions['graphiql']}/graphiql.min.js",
    ]


def test_each_package_ships_its_licence_naming_its_version(manifest: dict[str, Any]) -> None:
    for name, version in manifest["versions"].items():
        licence = (graphiql.STATIC_DIR / f"{name}-{version}" / "LICENSE.txt").read_text("utf-8")

        assert licence.splitlines()[0] == f"{name} {version}"
        assert "licence: MIT" in licence
        assert "Permission is hereby granted" in licence


def test_every_package_bundled_in_graphiql_has_its_licence_listed(
    manifest: dict[str, Any],
) -> None:
    folder = graphiql.STATIC_DIR / f"graphiql-{manifest['versions']['graphiql']}"
    bundle = (folder / "graphiql.min.js").read_bytes().decode("utf-8")
    notices = (folder / build_assets.BUNDLED_LICENCES_NAME).read_text("utf-8")
    headings = set(re.findall(r"^(\S+) \S+ \([^)]*\)$", notices, re.MULTILINE))
    bundled = build_assets.bundled_packages(bundle)

    assert {"graphql", "graphql-ws", "@graphiql/react", "codemirror"} <= set(bundled)
    assert headings == set(bundled)


def test_the_page_loads_only_this_servers_assets_in_order(manifest: dict[str, Any]) -> None:
    html = graphiql.graphiql_page_html()
    tags = page_tags(html)
    versions = manifest["versions"]

    assert tags.scripts == [
        *(graphiql.asset_url(name) for name in manifest["scripts"]),
        graphiql.asset_url(graphiql.PAGE_SCRIPT),
    ]
    assert tags.stylesheets == [
        *(graphiql.asset_url(name) for name in manifest["stylesheets"]),
        graphiql.asset_url(graphiql.PAGE_STYLESHEET),
    ]
    served_from = {
        graphiql.STATIC_URL_PATH: graphiql.STATIC_DIR,
        graphiql.PAGE_URL_PATH: graphiql.PAGE_DIR,
    }
    for reference in [*tags.scripts, *tags.stylesheets]:
        assert reference is not None
        mount = next(path for path in served_from if reference.startswith(path + "/"))
        assert (served_from[mount] / reference.removeprefix(mount + "/")).is_file()
    assert all(link["href"] in ("data:,", *tags.stylesheets) for link in tags.links)
    assert not re.search(r"https?:|//[a-z]", html, re.IGNORECASE)
    for name in VENDORED:
        assert f"/{name}-{versions[name]}/" in html


def test_the_page_script_wires_headers_and_subscriptions() -> None:
    script = (graphiql.PAGE_DIR / graphiql.PAGE_SCRIPT).read_text("utf-8")

    assert "GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl })" in script
    assert 'location.protocol === "https:" ? "wss:" : "ws:"' in script
    assert "shouldPersistHeaders: true" in script
    assert "isHeadersEditorEnabled: true" in script
    assert 'var TOKEN_PLACEHOLDER = "Bearer <token>";' in script
    assert "{ Authorization: TOKEN_PLACEHOLDER }" in script
    assert not re.search(r"(https?|wss?)://", script)


def test_the_page_forbids_other_origins() -> None:
    policy = dict(
        directive.split(" ", 1) for directive in graphiql.CONTENT_SECURITY_POLICY.split("; ")
    )

    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert "http" not in graphiql.CONTENT_SECURITY_POLICY


def test_the_wheel_carries_every_served_file_and_the_page() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["server.graphiql"]
    # setuptools expands package-data globs relative to the package's folder.
    packaged = {
        path.resolve() for pattern in patterns for path in graphiql.PACKAGE_DIR.glob(pattern)
    }

    served = [*graphiql.STATIC_DIR.rglob("*"), *graphiql.PAGE_DIR.rglob("*")]
    assert {path for path in served if path.is_file()} <= packaged
    assert graphiql.PAGE_TEMPLATE in packaged
    assert graphiql.MANIFEST_PATH in packaged


def test_source_map_comments_are_dropped() -> None:
    js = "var a = 1;\n//# sourceMappingURL=graphiql.min.js.map"
    css = "a { b: c; }\n\n/*# sourceMappingURL=graphiql.min.css.map*/"

    assert build_assets.without_source_map("x.min.js", js) == "var a = 1;\n"
    assert build_assets.without_source_map("x.min.css", css) == "a { b: c; }\n"
    assert build_assets.without_source_map("x.min.js", "var b;") == "var b;\n"


def test_bundled_packages_are_read_from_webpack_module_ids() -> None:
    bundle = "\n".join(
        [
            '/***/ "../../../node_modules/@radix-ui/react-id/dist/index.mjs":',
            '/***/ "../../../node_modules/a/node_modules/graphql/index.js":',
            '/***/ "../../graphiql-react/dist/index.js":',
            '/***/ "react":',
        ]
    )

    assert build_assets.bundled_packages(bundle) == [
        "@graphiql/react",
        "@radix-ui/react-id",
        "graphql",
    ]
