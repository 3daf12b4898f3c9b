"""Measurements of frozen models, kept on disk so that a new process need not redo them.

The original model's "before" snapshot and the gold model's measurement depend only on the
frozen weights, the measured items, the precision and the code that measures; a default
embedded CLI run spends 1.5-2.2 s and 1.0-1.2 s on them (of 18-23 s on a 2-core AMD EPYC), in
every new process, for the same numbers each time (BENCHMARKS.md "Run time of the default CLI
run"); SmolLM2's cost more. The in-memory caches of engine/assessment.py already spare a
second run in one process; this spares the next process.

An entry's file name hashes its key together with every source file of clreg_core and the
torch version, so an edited metric or an upgraded torch measures anew instead of reading stale
numbers. Files live under $CLREG_CACHE/measurements (paths.cache_root); one that cannot be read
is measured again, and one that cannot be written is skipped: the cache only saves time.
Set CLREG_MEASUREMENT_CACHE=0 to switch it off.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from clreg_core.paths import cache_root

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Files of a local model folder bigger than this are fingerprinted by size and time, not read.
HASHED_FILE_BYTES = 64 * 2**20


def enabled() -> bool:
    return os.environ.get("CLREG_MEASUREMENT_CACHE", "1") != "0"


@functools.cache
def code_version() -> str:
    """A hash of every source file of the package and the torch version."""
    digest = hashlib.sha256(torch.__version__.encode())
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def entry_path(kind: str, key: Any) -> Path:
    digest = hashlib.sha256(f"{code_version()}|{kind}|{key!r}".encode()).hexdigest()[:32]
    return cache_root() / "measurements" / f"{kind}-{digest}.pkl"


def load(kind: str, key: Any) -> Any | None:
    """The stored measurement for `key`, or None (none stored, unreadable, or cache off)."""
    if not enabled():
        return None
    try:
        with open(entry_path(kind, key), "rb") as handle:
            return pickle.load(handle)  # our own files, written by `store` below
    except Exception:  # missing, truncated or from an incompatible numpy: measure again
        return None


def is_stored(kind: str, key: Any) -> bool:
    """Whether `load` would find a measurement for `key` (without reading it)."""
    return enabled() and entry_path(kind, key).exists()


def store(kind: str, key: Any, value: Any) -> None:
    """Write `value` atomically (a reader never sees half a file); failures are ignored."""
    if not enabled():
        return
    path = entry_path(kind, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, path)
    except OSError:
        return


def folder_fingerprint(source: str) -> str | None:
    """What a local model folder holds, as a short hash (file names and contents; sizes and
    times for files over HASHED_FILE_BYTES); None for a hub name, whose files this cannot
    see, so its measurements are not kept on disk."""
    folder = Path(source)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(str(path.relative_to(folder)).encode())
        if stat.st_size > HASHED_FILE_BYTES:
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        else:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
