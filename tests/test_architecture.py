"""The layering rules of the design (docs/architecture.md).

Inside `clreg_core` the layers are an import-linter contract in pyproject.toml, which `.ci/run`
checks with `lint-imports`; the test below runs the same contract so a plain `pytest` catches a
wrong arrow too. `app.py` lies outside the package, so its own rules are checked here by hand.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP_MAY_IMPORT = ("clreg_core.app", "clreg_core.errors")


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_app_imports_no_model_libraries():
    roots = {name.split(".")[0] for name in _imported_modules(ROOT / "app.py")}
    assert not roots & {"torch", "transformers", "peft"}


def test_app_talks_only_to_the_page_layer():
    ours = {m for m in _imported_modules(ROOT / "app.py") if m.split(".")[0] == "clreg_core"}
    assert ours, "app.py should import the page layer"
    strays = {m for m in ours if not m.startswith(APP_MAY_IMPORT)}
    assert not strays, f"app.py reaches past clreg_core.app: {sorted(strays)}"


def test_import_contracts_hold():
    pytest.importorskip("importlinter")
    done = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
