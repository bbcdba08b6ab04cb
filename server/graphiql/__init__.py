"""GraphiQL served entirely by this server: no CDN, works offline.

The page (`page.html`, its script and stylesheet in `page/`) loads React, ReactDOM and
GraphiQL from `static/`, files copied from the npm packages pinned in
`assets-src/package-lock.json` by `python -m server.graphiql.build_assets`, which also
writes `static/assets.json` (versions, load order, checksums) and the licences. The
vendored files sit in `<package>-<version>/` folders, so they are cached for a year;
the page's own files are revalidated on every load.
"""

import json
import os
from functools import cache
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"  # vendored, in `<package>-<version>/` folders
PAGE_DIR = PACKAGE_DIR / "page"  # the page's own script and stylesheet
PAGE_TEMPLATE = PACKAGE_DIR / "page.html"
MANIFEST_PATH = STATIC_DIR / "assets.json"
STATIC_URL_PATH = "/graphiql/static"
PAGE_URL_PATH = "/graphiql/page"
PAGE_SCRIPT = "sselfie-graphiql.js"
PAGE_STYLESHEET = "sselfie-graphiql.css"

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Where the page may load from and talk to: this server only (WebSockets included).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # GraphiQL's components inject <style> tags
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def load_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    return manifest


def asset_url(name: str) -> str:
    """Where a vendored file, or the page's own script or stylesheet, is served."""
    own = name in (PAGE_SCRIPT, PAGE_STYLESHEET)
    return f"{PAGE_URL_PATH if own else STATIC_URL_PATH}/{name}"


@cache
def graphiql_page_html() -> str:
    """The GraphiQL page: every script and stylesheet is a same-origin path."""
    manifest = load_manifest()
    stylesheets = [*manifest["stylesheets"], PAGE_STYLESHEET]
    scripts = [*manifest["scripts"], PAGE_SCRIPT]
    template = Template(PAGE_TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(
        stylesheets="\n".join(
            f'    <link rel="stylesheet" href="{escape(asset_url(name))}" />'
            for name in stylesheets
        ),
        scripts="\n".join(
            f'    <script src="{escape(asset_url(name))}"></script>' for name in scripts
        ),
    )


def graphiql_page_response() -> HTMLResponse:
    return HTMLResponse(
        graphiql_page_html(),
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


class _Files(StaticFiles):
    """Starlette's static files (ETag, 304, HEAD, no traversal), with a cache policy."""

    def __init__(self, directory: Path, *, cache_control: str) -> None:
        super().__init__(directory=directory)
        self._cache_control = cache_control

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        # Vendored files never change at their versioned paths; the manifest may.
        versioned = Path(full_path).parent != STATIC_DIR
        response.headers["Cache-Control"] = self._cache_control if versioned else REVALIDATE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def graphiql_routes() -> list[BaseRoute]:
    """GraphiQL's scripts and stylesheets, gzipped (mount them in development only)."""
    return [
        Mount(STATIC_URL_PATH, GZipMiddleware(_Files(STATIC_DIR, cache_control=IMMUTABLE))),
        Mount(PAGE_URL_PATH, GZipMiddleware(_Files(PAGE_DIR, cache_control=REVALIDATE))),
    ]


__all__ = [
    "STATIC_URL_PATH",
    "graphiql_page_html",
    "graphiql_page_response",
    "graphiql_routes",
]
