"""After a restart: which interrupted runs a page may reach again, and what every page is told.

A killed server leaves each run that was going as an interrupted report (`run_export.
mark_interrupted`). The page that started it reloads when the server comes back, with a new
Gradio session, so the session cannot find them. The browser can: the page keeps a random key in
its localStorage (a `gr.BrowserState`), each attempt's download folder records a hash of its
page's key, and after a restart a page whose key matches gets the reports back. Every other page
is only told that runs were interrupted, and when.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

OWNER_FILE = ".page"  # in a download folder: the hash of its page's key
NOTICE_S = 3600.0  # how long after a restart pages are told about it


def new_page_key() -> str:
    return secrets.token_urlsafe(16)


def valid_page_key(value: object) -> bool:
    """A key this server could have made (a browser's storage can hold anything)."""
    return isinstance(value, str) and 16 <= len(value) <= 64 and value.isascii()


def _mark(page_key: str) -> str:
    return hashlib.sha256(page_key.encode("ascii")).hexdigest()


def mark_owner(folder: Path, page_key: str | None) -> None:
    """Record which page made `folder` (a hash: the folder's files say nothing of the key)."""
    if page_key:
        (folder / OWNER_FILE).write_text(_mark(page_key), encoding="ascii")


def browser_secret(root: Path) -> str:
    """The secret the page's browser storage is encrypted with: `CLREG_BROWSER_SECRET`, else one
    kept in a file under `root`, so that a restarted server still reads what browsers stored.
    `root` must not be a folder the server serves files from."""
    given = os.environ.get("CLREG_BROWSER_SECRET")
    if given:
        return given
    path = root / "clreg-lab-browser-secret"
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        secret = secrets.token_urlsafe(24)
        root.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secret, encoding="ascii")
        return secret


@dataclass
class Interrupted:
    """The runs a restart interrupted: their reports by page, and when the server came back."""

    by_page: dict[str, list[Path]] = field(default_factory=dict)
    count: int = 0
    at: float = field(default_factory=time.time)

    @classmethod
    def from_reports(cls, reports: list[Path]) -> Interrupted:
        interrupted = cls(count=len(reports))
        for report in reports:
            try:
                owner = (report.parent / OWNER_FILE).read_text(encoding="ascii").strip()
            except OSError:
                continue  # an API client's run, or one from before pages had keys
            interrupted.by_page.setdefault(owner, []).append(report)
        return interrupted

    def reports_for(self, page_key: str | None) -> list[Path]:
        """The interrupted reports of the page with this key that still exist."""
        if not page_key:
            return []
        return [p for p in self.by_page.get(_mark(page_key), []) if p.is_file()]

    def notice(self, page_key: str | None) -> str | None:
        """What a page is told on opening: its own interrupted runs, or that there were some."""
        if not self.count or time.time() - self.at > NOTICE_S:
            return None
        when = time.strftime("%H:%M", time.localtime(self.at))
        own = self.reports_for(page_key)
        if own:
            runs = "run was" if len(own) == 1 else f"{len(own)} runs were"
            return (
                f"The server restarted at {when} and your {runs} interrupted. What they had "
                "measured is kept: the reports are under Export (Downloads). Press Run to "
                "start again."
            )
        runs = (
            "a run that was going then was"
            if self.count == 1
            else f"{self.count} runs that were going then were"
        )
        return (
            f"The server restarted at {when}; {runs} interrupted. Pick a model and a topic, "
            "then press Run."
        )
