"""The layer order in pyproject.toml's [tool.importlinter] holds (also run by `make lint`)."""

from pathlib import Path

from importlinter.cli import lint_imports

PROJECT = Path(__file__).resolve().parents[2]


def test_layer_contracts_are_kept(tmp_path: Path) -> None:
    config = str(PROJECT / "pyproject.toml")
    assert lint_imports(config_filename=config, cache_dir=str(tmp_path), no_logo=True) == 0
