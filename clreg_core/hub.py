"""Is the Hugging Face hub reachable? Answer in a few seconds, never hang.

Hub code stays real (users running online pick hub models and datasets), but on a machine with no
network transformers and datasets retry for a long time before failing. We ask once, with a hard
deadline, and turn "offline" into a clear `ModelUnavailableError` naming what works offline.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlparse

from clreg_core.errors import ModelUnavailableError

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0
_CACHE_TTL_S = 60.0
_cache: dict[str, tuple[float, bool]] = {}


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT)


def hub_offline_by_setting() -> bool:
    """True when the user told the HF libraries to stay offline."""
    flags = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    return any(os.environ.get(f, "").strip().lower() in {"1", "true", "yes", "on"} for f in flags)


def hub_reachable(timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Open a TCP connection to the hub endpoint within `timeout_s` (result cached for a minute).

    DNS lookups have no timeout of their own, so the probe runs on a daemon thread and we stop
    waiting at the deadline.
    """
    if hub_offline_by_setting():
        return False
    endpoint = hub_endpoint()
    cached = _cache.get(endpoint)
    if cached and time.monotonic() - cached[0] < _CACHE_TTL_S:
        return cached[1]
    url = urlparse(endpoint)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    reachable = bool(result and result[0])
    _cache[endpoint] = (time.monotonic(), reachable)
    return reachable


def clear_hub_cache() -> None:
    _cache.clear()


def require_hub(what: str, offline_alternatives: str) -> None:
    """Raise a clear error, fast, when `what` needs the hub and the hub cannot be reached."""
    if hub_reachable():
        return
    reason = (
        "offline mode is set (HF_HUB_OFFLINE)"
        if hub_offline_by_setting()
        else f"{hub_endpoint()} cannot be reached from this machine"
    )
    raise ModelUnavailableError(
        f"{what} needs the Hugging Face hub, but {reason}. "
        f"Available offline: {offline_alternatives}."
    )
