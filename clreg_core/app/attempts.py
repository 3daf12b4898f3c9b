"""What one press of Run (or A/B) starts, and the worker that carries it out.

An `Attempt` is one or two runs on one task. `run_attempt` waits for the attempt's turn in the
shared queue, loads the model, trains each run as a background `Job` while handing its events
to the run's `RunState`, embeds the end view's features and writes the downloads. It never builds
widgets and never decides what the page shows (`page.py` does): it only fills run states.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clreg_core.app import figures
from clreg_core.app.run_export import (
    IN_PROGRESS,
    commands_text,
    export_run,
    prune_exports,
    write_progress,
)
from clreg_core.app.run_queue import RunQueue
from clreg_core.app.run_state import RunState
from clreg_core.data.items import UnlearningTask
from clreg_core.engine.budget import Limits
from clreg_core.errors import UserInputError, redact_paths
from clreg_core.models.loading import load_model, loading_stage

LOG = logging.getLogger("clreg_lab")
POLL_S = 0.05  # how often the worker hands a job's events to the run state
FIRST_POINTS_PAUSE_S = 1.0  # room for the page to draw the first points (about one timer tick)
# Downloads live here and nowhere else, so the app can allow serving exactly this folder.
EXPORT_ROOT = Path(tempfile.gettempdir()) / "clreg-lab-exports"
IDLE_SESSION_S = 3600.0  # a page unused this long loses its session (and its run state)
# Downloads older than this are deleted when a new run writes its own: by then the page that
# made them has lost its session.
EXPORT_KEEP_S = 2 * IDLE_SESSION_S


@dataclass
class Attempt:
    """What one press of Run (or A/B) started."""

    runs: list[RunState]
    task: UnlearningTask
    custom_text: str | None
    ticket: int
    stop: threading.Event = field(default_factory=threading.Event)
    models: list[tuple[str, object, object]] = field(default_factory=list)  # label, model, loaded
    # Every job that ended with a report (finished, stopped or failed), for the downloads: a
    # stopped run's curves and points are the user's work too.
    results: list[tuple[RunState, object]] = field(default_factory=list)  # run, RunResult
    exports: list[Path] = field(default_factory=list)
    commands: str = ""
    over: bool = False  # the worker is done (exports written, queue slot released)
    folder: Path | None = None  # its downloads, and the partial reports while it runs

    @property
    def active(self) -> bool:
        return not self.over and not self.stop.is_set()


def run_attempt(attempt: Attempt, queue: RunQueue, gpu: Callable | None = None) -> None:
    """The worker thread's body: wait for a turn, train, write the downloads, free the slot."""
    try:
        if not queue.wait_turn(attempt.ticket, attempt.stop.is_set):
            return
        EXPORT_ROOT.mkdir(parents=True, exist_ok=True)
        attempt.folder = Path(tempfile.mkdtemp(dir=EXPORT_ROOT))
        train = gpu(_train_all) if gpu else _train_all
        train(attempt)
    except Exception as error:  # a bug must not kill the app: show it as the run's failure
        LOG.exception("an attempt failed")
        for run in attempt.runs:
            if not run.done:
                said = redact_paths(f"{type(error).__name__}: {error}")
                run.mark_done("failed", f"{said} (details in the server log)")
    finally:
        queue.release(attempt.ticket)
        attempt.over = True


def _train_all(attempt: Attempt) -> None:
    from clreg_core.app.paper_view import paper_points
    from clreg_core.engine.evaluation import RunStopped
    from clreg_core.engine.jobs import Job
    from clreg_core.engine.training import resolve_device

    original = None
    for run in attempt.runs:
        if attempt.stop.is_set():
            break
        run.mark_loading(loading_stage(run.config.model))
        try:
            device = resolve_device(run.config.device)
            loaded = _load_unless_stopped(run.config.model, str(device), attempt.stop)
        except UserInputError as error:
            run.mark_done("failed", str(error))
            break
        if loaded is None:  # Stop (which marks the run) or the session went away
            if not run.done:
                run.mark_done("cancelled", "stopped by the user while loading the model")
            break
        job = Job(
            run.config,
            task=attempt.task,
            loaded=loaded,
            pause_after_first_points=FIRST_POINTS_PAUSE_S,
        ).start()
        _follow(job, run, attempt)
        if job.result is not None and job.result.report:
            attempt.results.append((run, job.result))
        if job.result is None or job.result.status != "finished" or attempt.stop.is_set():
            break
        attempt.models.append((run.label, job.result.model, loaded))
        try:  # the end view's features: a Stop here skips it (and any run still to come)
            original, run.paper_points = paper_points(
                job.result.model, loaded, attempt.task, run, original, attempt.stop.is_set
            )
        except RunStopped:
            break
    for run in attempt.runs:  # an A/B pair whose first run failed or was stopped
        if not run.done:
            run.mark_done("cancelled", "not run: the run before it did not finish")
    _write_exports(attempt)


def _load_unless_stopped(model: str, device: str, stop: threading.Event):
    """The loaded model, or None once `stop` is set. Loading cannot be interrupted from outside
    (a hub download, a GGUF's dequantisation: seconds to minutes), so it runs in its own thread
    and a Stop frees the slot at once; the abandoned load finishes and is dropped."""
    outcome: dict[str, object] = {}

    def load() -> None:
        try:
            outcome["loaded"] = load_model(model, device=device)
        except Exception as error:  # handed to the caller's thread below
            outcome["error"] = error

    loader = threading.Thread(target=load, name="clreg-load", daemon=True)
    loader.start()
    while loader.is_alive():
        if stop.wait(POLL_S):
            return None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["loaded"]


def _follow(job, run: RunState, attempt: Attempt) -> None:
    """Hand the job's events to the run state until the job ends; after a Stop, tell the job
    to stop and let it wind down (the page already shows the run as stopped). A run that
    outlives the host's time cap is stopped the same way."""
    cap = time_cap_s()
    deadline = time.monotonic() + cap if cap else None
    written = None  # the evaluations and stage the partial report on disk holds
    while True:
        if attempt.folder is not None and written != (len(run.evaluations), run.stage):
            write_progress(attempt.folder, run)  # what a killed server leaves behind
            written = (len(run.evaluations), run.stage)
        if deadline and time.monotonic() > deadline and not attempt.stop.is_set():
            attempt.stop.set()
            run.mark_done(
                "cancelled",
                f"stopped at this host's time cap ({cap / 60:.0f} min: twice CLREG_MAX_RUN_S)",
            )
        if attempt.stop.is_set():
            job.cancel()
        events = job.drain()
        for event in events:
            if not run.done:
                run.apply(event)
        if not events and not job.running:
            break
        time.sleep(0 if events else POLL_S)
    if not run.done:  # the job thread ended without a final event: never leave it hanging
        run.mark_done("failed", "the run ended without a result")


def time_cap_s() -> float | None:
    """The longest a run may hold the slot: twice the budget its estimate was admitted under
    (the estimate is arithmetic, not a promise), None where the host sets no budget."""
    budget = Limits.from_env().max_seconds
    return 2 * budget if budget else None


def _write_exports(attempt: Attempt) -> None:
    """The downloads of every run that left a report: a finished run's report and adapter, a
    stopped or failed run's report (history, points, reason); one page of their plots; the
    commands that rerun them."""
    folder = attempt.folder
    if folder is None:
        return
    for partial in folder.glob(f"*{IN_PROGRESS}"):  # the run ended: its report replaces them
        partial.unlink()
    if not attempt.results:
        return
    prune_exports(EXPORT_ROOT, EXPORT_KEEP_S, keep=folder)
    for run, result in attempt.results:
        attempt.exports += export_run(folder, run, result, attempt.custom_text)
    runs = [run for run, _ in attempt.results]
    pages = [figures.live_scatter(runs), figures.live_curves(runs)]
    for end_view in (figures.paper_view(runs), figures.layer_entanglement(runs)):
        pages += [end_view] if end_view is not None else []
    plots = folder / "plots.html"
    plots.write_text(figures.plots_html(pages), encoding="utf-8")
    attempt.exports.append(plots)
    attempt.commands = commands_text(runs, attempt.custom_text is not None)
