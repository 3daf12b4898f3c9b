"""What one page shows of its attempt: the progress line, and which parts changed since the last
poll (`changes`), each rendered as plain data or a plotly figure (`render`).

It reads run states and never changes them; the worker (`attempts.py`) fills them. Redraws are
rationed: a plot is redrawn only when it has something new, and new loss values alone redraw
the curves at most every `CURVES_EVERY_S`, since each redraw costs the browser CPU that, on a
small machine, the training needs.
"""

from __future__ import annotations

import threading
import time

from clreg_core.app import figures
from clreg_core.app.attempts import Attempt
from clreg_core.app.run_state import RunState
from clreg_core.app.run_tables import generations_table, metrics_table, table_note

CURVES_EVERY_S = 3.0  # the shortest time between redraws of the curves for new losses alone
PLACEHOLDERS = {"scatter": "placeholder", "curves": "placeholder"}


def _plotted(counts: tuple[int, ...]) -> object:
    """A plot's signature: how much it holds, or "placeholder" while it holds nothing (so the
    browser does not redraw an empty plot while a run moves from queued to loading)."""
    return counts if any(counts) else "placeholder"


def _pair_lines(runs: list[RunState]) -> list[str]:
    """An A/B attempt's progress, one part per run, numbered, with the run still to come named:
    halfway, "NPO: finished · step 100/100" alone read as if the whole comparison were done
    (and a first-time user closed the tab, which stops the second run)."""
    lines = []
    for number, run in enumerate(runs, start=1):
        where = f"run {number} of {len(runs)} · "
        if run.status == "queued" and number > 1:
            lines.append(f"{where}{run.label}: next, starts when {runs[number - 2].label} ends")
        else:
            lines.append(where + run.progress_text())
    if runs[0].status == "finished" and not runs[-1].done:
        lines.append("half done: keep this tab open (closing it stops the comparison)")
    return lines


CHECK_STATES = {
    "waiting": "waiting for its turn",
    "checking": "an attacker fine-tunes it on half of the forget facts and tests the other half…",
}


def _check_progress(attempt: Attempt) -> tuple[float, str]:
    """A relearning check's progress: where each run's check is, its reading once done."""
    lines = []
    for run in attempt.runs:
        block = (run.report or {}).get("relearning") or {}
        if run.check == "checked":
            state = "checked: " + block["verdict"]["reading"]
        else:
            state = CHECK_STATES.get(run.check, f"not checked ({run.check})")
        lines.append(f"{run.label}, gone or only hidden? {state}")
    if attempt.active and attempt.estimate:
        lines.append(f"the check was estimated at {attempt.estimate}")
    over = [r for r in attempt.runs if r.check not in CHECK_STATES]
    return len(over) / len(attempt.runs), " | ".join(lines)


def shown_runs(runs) -> str:
    """Which runs, of which model and topic, the tables show (their titles say it, so a
    table is never taken for another model's)."""
    if not runs:
        return ""
    config = runs[0].config
    labels = " and ".join(r.label for r in runs)
    return f"{labels}, {config.model} on {config.task}"


class PageView:
    def __init__(self) -> None:
        # Timer ticks skip Gradio's queue and may overlap: each change goes to one of them.
        self._lock = threading.Lock()
        # What the page shows, by part; a new page starts with the placeholder plots.
        self.rendered: dict[str, object] = dict(PLACEHOLDERS)
        self.curves_drawn_at = 0.0

    def reset(self) -> None:
        """A new attempt: its plots start again from the placeholders."""
        self.rendered.clear()

    def progress(self, attempt: Attempt | None) -> tuple[float, str]:
        """The share done (of the whole attempt) and a line saying where the attempt is."""
        if attempt is None:
            return 0.0, "Pick a model and a topic, then press Run."
        runs = attempt.runs
        waiting = runs[0].check == "waiting" if attempt.checks else runs[0].status == "queued"
        if waiting and not attempt.stop.is_set():
            position = attempt.queue.position(attempt.ticket)
            if position:
                return 0.0, f"Waiting for another user's run: you are number {position} in line."
        if attempt.checks:
            return _check_progress(attempt)
        fraction = sum(r.fraction() for r in runs) / len(runs)
        lines = [r.progress_text() for r in runs] if len(runs) == 1 else _pair_lines(runs)
        if attempt.over is False and all(r.done for r in runs) and attempt.stop.is_set():
            lines.append("(the stopped job is winding down; a new run can start now)")
        elif all(r.status == "finished" for r in runs) and not attempt.over:
            lines.append(runs[0].end_view_text())
        return fraction, " | ".join(lines)

    def changes(self, attempt: Attempt | None) -> dict[str, object]:
        """The parts of the page that changed since the last call, by name (see `render`)."""
        with self._lock:
            return self._changes(attempt)

    def _changes(self, attempt: Attempt | None) -> dict[str, object]:
        runs = attempt.runs if attempt else []
        now = time.monotonic()
        evaluations = tuple(len(r.evaluations) for r in runs)
        losses = tuple(len(r.losses) for r in runs)
        statuses = tuple(r.status for r in runs)
        signatures = {
            "progress": self.progress(attempt),
            "scatter": _plotted(evaluations),
            "curves": self._curves_signature(evaluations, losses, statuses, now),
            "final": (statuses, tuple(r.check for r in runs), attempt.over if attempt else False),
        }
        changed = {}
        for part, signature in signatures.items():
            if self.rendered.get(part) != signature:
                self.rendered[part] = signature
                changed.update(self.render(part, attempt))
        if "curves" in changed:
            self.curves_drawn_at = now
        return changed

    def _curves_signature(self, evaluations, losses, statuses, now: float) -> object:
        """What the curves hold; while only losses were added since the last draw and that
        draw is recent, the drawn signature, so they are not redrawn yet."""
        if _plotted(evaluations + losses) == "placeholder":
            return "placeholder"
        drawn = self.rendered.get("curves")
        moments = (evaluations, statuses)  # these redraw at once
        if (
            isinstance(drawn, tuple)
            and drawn[0] == moments
            and now - self.curves_drawn_at < CURVES_EVERY_S
        ):
            return drawn
        return moments, losses

    def render(self, part: str, attempt: Attempt | None) -> dict[str, object]:
        runs = list(attempt.runs) if attempt else []
        if part == "progress":
            return {"progress": self.progress(attempt)}
        if part == "scatter":
            return {"scatter": figures.live_scatter(runs)}
        if part == "curves":
            return {"curves": figures.live_curves(runs)}
        over = attempt is not None and attempt.over
        return {
            "paper": figures.paper_view(runs),
            "layers": figures.layer_entanglement(runs),
            "relearning": figures.relearning_curves(runs),
            "metrics": metrics_table(runs),
            "generations": generations_table(runs),
            "shows": shown_runs(runs),
            "note": table_note(runs),
            "exports": [str(p) for p in attempt.exports] if over else [],
            "commands": attempt.commands if over else "",
            "running": attempt is not None and attempt.active,
        }

    def summary(self, attempt: Attempt | None) -> dict:
        """A JSON-able account of the attempt, for the API and for tests."""
        fraction, text = self.progress(attempt)
        runs = attempt.runs if attempt else []
        return {
            "busy": attempt is not None and attempt.active,
            "over": attempt.over if attempt else True,
            "progress": round(fraction, 3),
            "text": text,
            "runs": [
                {
                    "label": r.label,
                    "status": r.status,
                    "step": r.step,
                    "evaluations": len(r.evaluations),
                    "reason": r.reason,
                    "pid": r.worker_pid,
                    "device": r.device,
                    "parity": r.parity,
                    "metrics": (r.report or {}).get("metrics", {}).get("after", {}),
                    "relearning": (r.report or {}).get("relearning", {}).get("verdict"),
                    # own text: what the model knew of it before (engine/prior_knowledge.py)
                    "prior_knowledge": (r.report or {}).get("prior_knowledge"),
                }
                for r in runs
            ],
        }
