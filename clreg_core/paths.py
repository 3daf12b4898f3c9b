"""Where the shipped files live: one place, so every layer can find the assets without importing
the layer that happens to write them."""

from __future__ import annotations

import os
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"


def cache_root() -> Path:
    """Where the app keeps what it can rebuild (converted models, measurements of frozen
    models): $CLREG_CACHE, else ~/.cache/clreg-lab."""
    return Path(os.environ.get("CLREG_CACHE", Path.home() / ".cache" / "clreg-lab"))
