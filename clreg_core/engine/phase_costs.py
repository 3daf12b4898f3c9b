"""How long a run's slow phases took before, kept on disk, so a progress line can say how long
they will take from measurements rather than guess.

The page's estimates once came from the run itself ("measuring the unlearned model" as 1.3×
the "before" measurement), which fails where "before" came from the measurement cache in a
fraction of a second: the page said "about 1 s left" for 40 s. Each finished phase's seconds
are kept here per model, device and item count (`cost_key`); the median of the last few is
the estimate. A phase never measured has none, and the page says "measuring…" without a
number. The file is $CLREG_CACHE/phase_costs.json; one that cannot be read or written only
costs the estimate.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading

from clreg_core.paths import cache_root

KEPT = 5  # the latest measurements of a phase that make its estimate
FILE_NAME = "phase_costs.json"
_LOCK = threading.Lock()

# The phases a page waits through around training, by the names `record` is given.
MEASURE_BEFORE = "measure_before"  # the original model measured (not read from the cache)
MEASURE_AFTER = "measure_after"  # the unlearned model measured, and the gold model with it
END_VIEW = "end_view"  # the end view's embeddings, after the run's report


def cost_key(model: str, device: str | None, items: int) -> str:
    return f"{model}|{(device or 'cpu').split(':')[0]}|{items}"


def _path():
    return cache_root() / FILE_NAME


def _read() -> dict:
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(key: str, phase: str, seconds: float) -> None:
    """Keep one measurement of `phase` (its latest KEPT are kept); failures are ignored."""
    if not seconds >= 0:  # NaN or negative: not a measurement
        return
    with _LOCK:
        data = _read()
        kept = [*data.get(key, {}).get(phase, []), round(float(seconds), 3)][-KEPT:]
        data.setdefault(key, {})[phase] = kept
        try:
            _path().parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", dir=_path().parent, delete=False, suffix=".tmp"
            ) as handle:
                json.dump(data, handle)
            os.replace(handle.name, _path())
        except OSError:
            return


def expected(key: str, phase: str) -> float | None:
    """The median of the kept measurements of `phase`, or None where it was never measured."""
    values = [v for v in _read().get(key, {}).get(phase, []) if isinstance(v, int | float)]
    return float(statistics.median(values)) if values else None
