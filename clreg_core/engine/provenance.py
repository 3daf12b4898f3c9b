"""Where a report came from: when, which code, which library versions, on what machine.

A report read weeks later (or next to another one) must say what produced it, since numbers
move with library versions and bf16 support (report["computed_in"])."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from clreg_core import __version__

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("torch", "transformers", "peft", "numpy", "scikit-learn")


def provenance() -> dict:
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clreg_lab": __version__,
        **git_state(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "versions": {name: _version(name) for name in LIBRARIES},
    }


def git_state() -> dict:
    """The commit of this checkout and whether it had uncommitted changes; None for both where
    the code is not a git checkout (an installed copy, a Space built without .git)."""
    try:
        commit = _git("rev-parse", "HEAD")
        changed = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "uncommitted_changes": None}
    return {"commit": commit, "uncommitted_changes": changed}


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
    )
    return done.stdout.strip()


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
