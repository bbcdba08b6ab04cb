"""Rebuild `server/graphiql/static/` from the npm packages pinned in `assets-src/`.

Run `python -m server.graphiql.build_assets` after changing `assets-src/package.json`
(then `npm install --package-lock-only` there to refresh the lockfile). It needs Node's
`npm` and the npm registry; serving the result needs neither.

What it does: `npm ci` of `assets-src/` in a temporary directory (so no `node_modules`
lands in the source tree), then copies each vendored file, without its source-map
comment, into `static/<package>-<version>/` next to that package's licence, writes the
licences of every package bundled inside `graphiql.min.js`, and records everything in
`static/assets.json` (versions, load order, SHA-256 of each file), which the page and
the tests read.
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_DIR = PACKAGE_DIR / "assets-src"
STATIC_DIR = PACKAGE_DIR / "static"
MANIFEST_NAME = "assets.json"
LICENCE_NAME = "LICENSE.txt"
BUNDLED_LICENCES_NAME = "THIRD-PARTY-LICENSES.txt"


@dataclass(frozen=True)
class Vendored:
    """Files copied from one npm package: (path in the package, role)."""

    package: str
    files: tuple[tuple[str, str], ...]
    bundle: str | None = None  # a webpack bundle whose bundled packages need licences


# In load order: React before ReactDOM before GraphiQL (which reads both globals).
VENDORED = (
    Vendored("react", (("umd/react.production.min.js", "script"),)),
    Vendored("react-dom", (("umd/react-dom.production.min.js", "script"),)),
    Vendored(
        "graphiql",
        (("graphiql.min.css", "stylesheet"), ("graphiql.min.js", "script")),
        bundle="graphiql.min.js",
    ),
)

# Monorepo siblings webpack bundled by relative path (`../../graphiql-react/...`).
MONOREPO_PACKAGES = {
    "graphiql-react": "@graphiql/react",
    "graphiql-toolkit": "@graphiql/toolkit",
    "codemirror-graphql": "codemirror-graphql",
    "graphql-language-service": "graphql-language-service",
}

_JS_SOURCE_MAP = re.compile(r"\n?//# sourceMappingURL=\S*\s*\Z")
_CSS_SOURCE_MAP = re.compile(r"\n?/\*# sourceMappingURL=[^*]*\*/\s*\Z")
_WEBPACK_MODULE = re.compile(r'^/\*\*\*/ "([^"]+)"', re.MULTILINE)
_LICENCE_FILE = re.compile(r"^(licen[cs]e|copying)(\.(md|txt|markdown))?$", re.IGNORECASE)


def without_source_map(name: str, text: str) -> str:
    pattern = _CSS_SOURCE_MAP if name.endswith(".css") else _JS_SOURCE_MAP
    stripped = pattern.sub("", text)
    return stripped if stripped.endswith("\n") else stripped + "\n"


def bundled_packages(bundle_text: str) -> list[str]:
    """npm package names of the modules a webpack bundle carries."""
    names: set[str] = set()
    for module_id in _WEBPACK_MODULE.findall(bundle_text):
        if "node_modules/" in module_id:
            parts = module_id.rsplit("node_modules/", 1)[1].split("/")
            names.add("/".join(parts[:2]) if parts[0].startswith("@") else parts[0])
        elif module_id.startswith("../../"):
            sibling = module_id.removeprefix("../../").split("/")[0]
            if sibling not in MONOREPO_PACKAGES:
                raise SystemExit(f"unknown bundled sibling package {module_id!r}")
            names.add(MONOREPO_PACKAGES[sibling])
    return sorted(names)


def _licence_text(package_dir: Path) -> str | None:
    for candidate in sorted(package_dir.iterdir()):
        if candidate.is_file() and _LICENCE_FILE.match(candidate.name):
            return candidate.read_text(encoding="utf-8").strip() + "\n"
    return None


def _package_json(package_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((package_dir / "package.json").read_text("utf-8"))
    return data


def _find_installed(root: Path, lock: dict[str, Any], name: str) -> Path:
    """The installed copy of `name`: the top-level one, else the first nested one."""
    packages: dict[str, Any] = lock["packages"]
    keys = sorted(
        (key for key in packages if key.endswith(f"node_modules/{name}")),
        key=lambda key: (key.count("node_modules/"), key),
    )
    if not keys:
        raise SystemExit(
            f"{name} is bundled in graphiql.min.js but not installed: add it to "
            "devDependencies in assets-src/package.json (for its licence text)"
        )
    return root / keys[0]


def _licence_file(name: str, version: str, licence: str, text: str) -> str:
    return (
        f"{name} {version}\n"
        f"Copied from the npm package {name}@{version}; licence: {licence}.\n"
        f"{'=' * 72}\n\n{text}"
    )


def _bundled_licences(root: Path, lock: dict[str, Any], owner: str, bundle_text: str) -> str:
    sections = [
        f"Packages bundled inside {owner}'s graphiql.min.js, with their licences.\n"
        "Versions are of the copies npm installed beside it; the bundle may carry\n"
        "a slightly different release of the same package.\n"
    ]
    for name in bundled_packages(bundle_text):
        package_dir = _find_installed(root, lock, name)
        meta = _package_json(package_dir)
        text = _licence_text(package_dir)
        if text is None:
            text = f"(no licence file in the package; package.json says {meta.get('license')})\n"
        sections.append(
            f"{'-' * 72}\n{name} {meta['version']} ({meta.get('license', 'unknown')})\n"
            f"{'-' * 72}\n\n{text}"
        )
    return "\n".join(sections)


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))  # no newline translation on any platform


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(install_root: Path) -> dict[str, Any]:
    """Copy from an `npm ci`-installed `install_root` into a fresh `static/`."""
    lock: dict[str, Any] = json.loads((install_root / "package-lock.json").read_text("utf-8"))
    if STATIC_DIR.exists():
        shutil.rmtree(STATIC_DIR)
    STATIC_DIR.mkdir()
    versions: dict[str, str] = {}
    scripts: list[str] = []
    stylesheets: list[str] = []
    licences: dict[str, str] = {}
    for vendored in VENDORED:
        package_dir = install_root / "node_modules" / vendored.package
        meta = _package_json(package_dir)
        version = str(meta["version"])
        locked = lock["packages"][f"node_modules/{vendored.package}"]["version"]
        if version != locked:
            raise SystemExit(f"{vendored.package}: installed {version}, locked {locked}")
        versions[vendored.package] = version
        folder = f"{vendored.package}-{version}"
        (STATIC_DIR / folder).mkdir()
        for source, role in vendored.files:
            name = Path(source).name
            # Bytes in, bytes out: the bundles mix line endings, kept as they are.
            text = (package_dir / source).read_bytes().decode("utf-8")
            _write(STATIC_DIR / folder / name, without_source_map(name, text))
            (scripts if role == "script" else stylesheets).append(f"{folder}/{name}")
        licence_text = _licence_text(package_dir)
        if licence_text is None:
            raise SystemExit(f"{vendored.package} {version} ships no licence file")
        licence_path = f"{folder}/{LICENCE_NAME}"
        _write(
            STATIC_DIR / licence_path,
            _licence_file(vendored.package, version, str(meta["license"]), licence_text),
        )
        licences[vendored.package] = licence_path
        if vendored.bundle is not None:
            bundle_text = (package_dir / vendored.bundle).read_bytes().decode("utf-8")
            bundled_path = f"{folder}/{BUNDLED_LICENCES_NAME}"
            _write(
                STATIC_DIR / bundled_path,
                _bundled_licences(install_root, lock, f"{vendored.package} {version}", bundle_text),
            )
            licences[f"{vendored.package} (bundled packages)"] = bundled_path
    files = sorted(
        path.relative_to(STATIC_DIR).as_posix() for path in STATIC_DIR.rglob("*") if path.is_file()
    )
    manifest: dict[str, Any] = {
        "comment": "Generated by python -m server.graphiql.build_assets; do not edit.",
        "versions": versions,
        "scripts": scripts,
        "stylesheets": stylesheets,
        "licences": licences,
        "sha256": {name: _sha256(STATIC_DIR / name) for name in files},
    }
    _write(STATIC_DIR / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to rebuild the GraphiQL assets")
    with tempfile.TemporaryDirectory(prefix="sselfie-graphiql-") as temporary:
        root = Path(temporary)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(SOURCE_DIR / name, root / name)
        subprocess.run(  # noqa: S603 - a fixed command line, no user input
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=root,
            check=True,
        )
        manifest = build(root)
    total = sum((STATIC_DIR / name).stat().st_size for name in manifest["sha256"])
    print(
        f"wrote {len(manifest['sha256'])} files ({total:,} bytes) to {STATIC_DIR}: "
        + ", ".join(f"{name} {version}" for name, version in manifest["versions"].items()),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
