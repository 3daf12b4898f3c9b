"""The layering rules of the design: the UI imports no model code, the core imports no UI."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_app_imports_no_model_libraries():
    assert not _imported_roots(ROOT / "app.py") & {"torch", "transformers", "peft"}


def test_core_imports_no_ui_libraries():
    for path in (ROOT / "clreg_core").rglob("*.py"):
        assert "gradio" not in _imported_roots(path), path
