"""What one caller may ask of a public server: one run at a time, a place in a line of bounded
length, and cheap calls (free questions, probes) at a bounded rate.

A caller is a browser session or API client *and* its address: a stranger who opens many
sessions (or scripts the API) from one address still gets one run. On a Hugging Face Space the
app sits behind a proxy, so the address is the first of X-Forwarded-For, as the proxy sets it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

from clreg_core.errors import UserInputError

DEFAULT_MAX_WAITING = 8  # runs waiting in one line; past it, new callers are told to come back
ASKS_PER_MINUTE = 20  # free questions and probes per caller (a class asks a few a minute)


def _env_count(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name, str(default))))
    except ValueError:
        return default


def max_waiting() -> int:
    """How many runs may wait in one line (`CLREG_MAX_WAITING`; 0: no limit)."""
    return _env_count("CLREG_MAX_WAITING", DEFAULT_MAX_WAITING)


def caller_address(headers: dict | None, client_host: str | None) -> str:
    """The caller's address: the first X-Forwarded-For entry behind a proxy, else the peer."""
    forwarded = (headers or {}).get("x-forwarded-for", "")
    first = forwarded.split(",")[0].strip()
    return first or client_host or "unknown"


def check_line(waiting: int) -> None:
    """Refuse a new run when the line is full, with when to come back."""
    cap = max_waiting()
    if cap and waiting >= cap:
        raise UserInputError(
            f"busy: {waiting} runs are already waiting here; try again in a minute or two "
            "(or run it on your own machine: README, 'Two commands')"
        )


class RateLimit:
    """At most `per_minute` calls per key in any 60 s."""

    def __init__(self, per_minute: int = ASKS_PER_MINUTE, window_s: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, what: str = "questions") -> None:
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and now - calls[0] > self.window_s:
                calls.popleft()
            if len(calls) >= self.per_minute:
                wait = self.window_s - (now - calls[0])
                raise UserInputError(
                    f"too many {what}: at most {self.per_minute} a minute from one address; "
                    f"try again in {max(1, round(wait))} s"
                )
            calls.append(now)
            for old in [k for k, v in self._calls.items() if not v or now - v[-1] > self.window_s]:
                del self._calls[old]  # keys idle past the window: no memory kept for them


ASKS = RateLimit()
