"""What one caller may ask of a public server: one run at a time, a place in a line of bounded
length, and cheap calls (free questions, probes) at a bounded rate.

A caller is a browser session or API client *and* its address: a stranger who opens many
sessions (or scripts the API) from one address still gets one run. On a Hugging Face Space the
app sits behind a proxy, so the address comes from X-Forwarded-For (see `caller_address`); a run
that nobody watches any more is stopped (`Watch`).
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from collections import deque
from pathlib import Path

from clreg_core.errors import UserInputError

DEFAULT_MAX_WAITING = 8  # runs waiting in one line; past it, new callers are told to come back
ASKS_PER_MINUTE = 20  # free questions and probes per caller (a class asks a few a minute)
# Calls waiting in Gradio's queue at once, all visitors together (runs following their line,
# questions waiting for a model slot, Stops). Bounded so a flood cannot grow the server's memory
# without end; not 1, which Gradio picks on ZeroGPU when none is given: there a Status call
# made while a visitor's Run had not yet been picked up was refused "Queue is full".
DEFAULT_QUEUE_SIZE = 64


def _env_count(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name, str(default))))
    except ValueError:
        return default


def max_waiting() -> int:
    """How many runs may wait in one line (`CLREG_MAX_WAITING`; 0: no limit)."""
    return _env_count("CLREG_MAX_WAITING", DEFAULT_MAX_WAITING)


def queue_size() -> int:
    """How many calls may wait in the server's queue (`CLREG_QUEUE_SIZE`; at least 1)."""
    return max(1, _env_count("CLREG_QUEUE_SIZE", DEFAULT_QUEUE_SIZE))


DEFAULT_UNWATCHED_S = 30.0  # a run whose progress nobody reads this long is stopped


def behind_proxy() -> bool:
    """Whether requests arrive through a proxy that sets X-Forwarded-For: on a Hugging Face
    Space (SPACE_ID is set there), or where the host says so (`CLREG_BEHIND_PROXY=1`)."""
    return bool(os.environ.get("SPACE_ID")) or os.environ.get("CLREG_BEHIND_PROXY") == "1"


def caller_address(
    headers: dict | None, client_host: str | None, proxied: bool | None = None
) -> str:
    """The caller's address.

    Without a proxy it is the peer: a header is the caller's to write, so trusting it would let
    anyone claim a new address per call. Behind one, it is the last public address in
    X-Forwarded-For: each proxy appends the address it saw, so entries left of the proxies'
    own (private) hops were written by the caller and are skipped too."""
    proxied = behind_proxy() if proxied is None else proxied
    forwarded = (headers or {}).get("x-forwarded-for", "") if proxied else ""
    for entry in reversed([e.strip() for e in forwarded.split(",") if e.strip()]):
        try:
            address = ipaddress.ip_address(entry)
        except ValueError:
            continue  # not an address: a caller's invention
        if address.is_global:
            return entry
    return client_host or "unknown"


def unwatched_s() -> float:
    """How long a run may go with nobody reading its progress (`CLREG_UNWATCHED_S`; 0: forever)."""
    try:
        return max(0.0, float(os.environ.get("CLREG_UNWATCHED_S", DEFAULT_UNWATCHED_S)))
    except ValueError:
        return DEFAULT_UNWATCHED_S


class Watch:
    """Whether anyone still reads a run's progress.

    A page reads its run's answers on its event stream, and so does an API client that follows
    the call (gradio_client, or a GET of /call/run/<id>); Gradio stops a run whose stream closes.
    A bare POST of /call/run opens no stream at all, and its answers pile up unread: `unread`
    counts them (None where it cannot tell, which counts as watched). A run counts as watched
    while they are read, or while its session calls (the page's timer ticks every second)."""

    SLACK = 2  # answers sent but not yet read, on a stream that is being read

    def __init__(self, unread, last_call, limit_s: float | None = None) -> None:
        self.unread = unread  # () -> int | None
        self.last_call = last_call  # () -> time.monotonic() of the session's latest call
        self.limit_s = unwatched_s() if limit_s is None else limit_s
        self.last_read = time.monotonic()

    def gone(self) -> bool:
        """True once nobody has read the run's progress nor called for `limit_s`."""
        now = time.monotonic()
        unread = self.unread()
        if unread is None or unread <= self.SLACK:
            self.last_read = now
        seen = max(self.last_read, self.last_call())
        return bool(self.limit_s) and now - seen > self.limit_s


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


def public_host() -> bool:
    """A host open to strangers: a Hugging Face Space, or where `CLREG_PUBLIC=1` says so."""
    return bool(os.environ.get("SPACE_ID")) or os.environ.get("CLREG_PUBLIC") == "1"


def model_roots() -> list[Path]:
    """The folders a public host offers models from (`CLREG_MODEL_ROOTS`, separated by
    os.pathsep; default: the project's assets and the Hugging Face cache)."""
    listed = os.environ.get("CLREG_MODEL_ROOTS")
    if listed:
        return [Path(p).expanduser().resolve() for p in listed.split(os.pathsep) if p]
    from huggingface_hub.constants import HF_HUB_CACHE

    from clreg_core.paths import ASSETS_DIR

    return [ASSETS_DIR.resolve(), Path(HF_HUB_CACHE).expanduser().resolve()]


def check_model_folder(choice: str) -> None:
    """On a public host, a typed folder must lie inside `model_roots()` (links followed). Any
    other path gets the same words whether it exists or not, so the model field tells a
    stranger nothing about the server's files. On a personal machine every folder works."""
    if not public_host():
        return
    from clreg_core.models.registry import is_registered

    text = choice.strip()
    path = Path(text).expanduser()
    if is_registered(text) or not (text.startswith((".", "/", "~")) or path.exists()):
        return  # a name from the list, or a hub id
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root) for root in model_roots()):
        raise UserInputError(
            f"{text!r} is not a model folder this server offers; pick a model from the list or "
            "type a hub id (owner/name)"
        )
