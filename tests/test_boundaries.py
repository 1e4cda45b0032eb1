"""Layer boundaries: plugins import only the plugin surface; the TUI imports nothing of the server."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SURFACE = {"cashout_server", "cashout_server.testing"}


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _sources(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.py") if ".venv" not in p.parts]


def test_plugins_import_only_the_plugin_surface() -> None:
    plugin_dirs = [p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file()]
    assert plugin_dirs, "no plugins found"
    offences = []
    for plugin in plugin_dirs:
        for path in _sources(plugin):
            for line, module in _imports(path):
                testing = module == "cashout_server.testing" or module.startswith("cashout_server.testing.")
                if module.split(".")[0] == "cashout_server" and module not in PLUGIN_SURFACE and not testing:
                    offences.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
                in_tests = "tests" in path.relative_to(plugin).parts
                if testing and not in_tests:
                    offences.append(f"{path.relative_to(ROOT)}:{line}: only tests may import cashout_server.testing")
    assert offences == []


def test_tui_imports_nothing_from_the_server() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _sources(ROOT / "cashout_tui")
        for line, module in _imports(path)
        if module.split(".")[0] == "cashout_server"
    ]
    assert offences == []


def test_the_check_catches_an_offence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from cashout_server.db.models import Item\nimport cashout_server.runtime\n")
    modules = [m for _, m in _imports(bad)]
    assert [m for m in modules if m not in PLUGIN_SURFACE] == ["cashout_server.db.models", "cashout_server.runtime"]
