"""Where the shipped files live: one place, so every layer can find the assets without importing
the layer that happens to write them."""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
