"""What one press of Run (or A/B) starts, and how the page's process follows it.

An `Attempt` is one or two runs on one task. `run_attempt` is the body of the Run handler itself
(a generator, so the page redraws and a Stop lands while it goes): it waits for the attempt's
turn in its queue, hands the work to `worker.carry_out` (in this process, or in a ZeroGPU worker
through `spaces.GPU`: whichever `work` the attempt was placed on), fills the runs' `RunState`s
from the plain messages that come back, rebuilds each finished model from its LoRA weights (for
free questions and the adapter download) and writes the downloads. The page depends on nothing
the work changes in place, so the same code serves both. It never builds widgets and never
decides what the page shows (`page.py` does).
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from clreg_core.app import figures
from clreg_core.app.adapters import KeptAdapter
from clreg_core.app.restarts import mark_owner
from clreg_core.app.run_export import (
    IN_PROGRESS,
    commands_text,
    export_run,
    mark_server,
    progress_report,
    prune_exports,
    write_progress,
)
from clreg_core.app.run_queue import RunQueue
from clreg_core.app.run_state import DONE, RunState
from clreg_core.app.worker import Message, WorkOrder
from clreg_core.data.items import UnlearningTask
from clreg_core.engine.budget import Limits
from clreg_core.errors import UserInputError, redact_paths

LOG = logging.getLogger("clreg_lab")
REDRAW_S = 0.25  # the handler yields to the page at most this often (and at each evaluation)
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
    order: WorkOrder
    work: Callable[[WorkOrder], Iterator[Message]]  # where it runs (hosting.Placement)
    queue: RunQueue
    ticket: int | None = None  # its place in `queue`, taken when it is followed
    stop: threading.Event = field(default_factory=threading.Event)
    models: list[KeptAdapter] = field(default_factory=list)  # the finished runs' LoRA weights
    # Every run that left a report (finished, stopped or failed), for the downloads: a stopped
    # run's curves and points are the user's work too.
    results: list[tuple[RunState, object]] = field(default_factory=list)  # run, RunResult
    exports: list[Path] = field(default_factory=list)
    commands: str = ""
    over: bool = False  # followed to its end (exports written, queue slot released)
    folder: Path | None = None  # its downloads, and the partial reports while it runs
    page_key: str | None = None  # the browser page's own key, to find it after a restart
    checks: bool = False  # the relearning check of finished runs (`runs`), not a training run
    estimate: str = ""  # what it was estimated to take, in words (shown while it goes)

    @property
    def active(self) -> bool:
        return not self.over and not self.stop.is_set()


def run_attempt(attempt: Attempt) -> Iterator[None]:
    """Follow the attempt to its end, yielding whenever the page may redraw (at least every
    `REDRAW_S` while the work sends anything, `alive` messages included).

    Closing the generator (Gradio cancels the Run event: Stop, a closed tab) stops the work: the
    wind-down (closing the work, which ZeroGPU passes on to its worker, writing the downloads,
    freeing the slot) then runs on a thread of its own, since Gradio closes generators on its
    event loop."""
    queue = attempt.queue
    attempt.ticket = queue.join()
    following = None
    try:
        yield  # at once: the page shows the run as started (or in line)
        while not queue.take_turn(attempt.ticket, REDRAW_S):
            if attempt.stop.is_set():
                break
            yield
        if not attempt.stop.is_set():
            attempt.folder = new_export_folder(attempt.page_key)
            following = attempt.work(attempt.order)
            yield from _follow(attempt, following)
    except GeneratorExit:
        attempt.stop.set()
        threading.Thread(
            target=_wind_down, args=(attempt, following), name="clreg-wind-down", daemon=True
        ).start()
        raise
    except Exception as error:  # a bug, or the GPU refused (quota, queue): show it on the runs
        if not isinstance(error, UserInputError):
            LOG.exception("an attempt failed")
        said = (
            str(error)
            if isinstance(error, UserInputError)
            else redact_paths(f"{type(error).__name__}: {error} (details in the server log)")
        )
        for run in attempt.runs:
            if not run.done:
                run.mark_done("failed", said)
    _wind_down(attempt, following)


def new_export_folder(page_key: str | None = None) -> Path:
    """A folder for one attempt's downloads, named by 128 random bits, marked with the server
    that writes it and (a hash of) the page that asked for it (`restarts.py`).

    Gradio serves every file under EXPORT_ROOT to whoever asks for its path: a file request
    carries no session, so the app cannot check who asks. Only the page that made a folder is
    shown its name, the name cannot be guessed, and the folder lives `EXPORT_KEEP_S` at most."""
    EXPORT_ROOT.mkdir(parents=True, exist_ok=True)
    folder = EXPORT_ROOT / secrets.token_urlsafe(16)
    folder.mkdir(mode=0o700)
    mark_server(folder)
    mark_owner(folder, page_key)
    return folder


def _follow(attempt: Attempt, following: Iterator[Message]) -> Iterator[None]:
    """Apply the work's messages to the runs until it ends, a Stop, or the host's time cap."""
    cap = time_cap_s()
    deadline = time.monotonic() + cap if cap else None
    yielded = time.monotonic()
    for message in following:
        moment = _take(attempt, message)
        if attempt.stop.is_set():
            return
        if deadline and time.monotonic() > deadline:
            attempt.stop.set()
            for run in attempt.runs:
                if not run.done:
                    run.mark_done(
                        "cancelled",
                        f"stopped at this host's time cap ({cap / 60:.0f} min: twice "
                        "CLREG_MAX_RUN_S)",
                    )
            return
        if moment or time.monotonic() - yielded >= REDRAW_S:
            yield
            yielded = time.monotonic()


def _take(attempt: Attempt, message: Message) -> bool:
    """Apply one message; True where the page should redraw at once (new points, a stage)."""
    if message.kind == "alive":
        return False
    run = attempt.runs[message.run]
    if message.kind == "loading":
        run.mark_loading(message.data["stage"])
        run.worker_pid = message.data["pid"]
        return True
    if message.kind == "end_view":
        run.paper_points = message.data
        return False
    if message.kind == "adapter":
        _keep_model(attempt, run, message.data)
        return False
    if message.kind == "checking":
        run.check, run.worker_pid = "checking", message.data["pid"]
        return True
    if message.kind == "relearning":  # the finished run's report gains its check
        run.report["relearning"] = message.data
        run.check = "checked" if "same_lora" in message.data else message.data["unavailable"]
        return True
    event = message.data
    if not run.done:
        run.apply(event)
    if event.kind in DONE and event.data.get("report"):
        from clreg_core.engine.training import RunResult

        result = RunResult(event.kind, run.config, event.data["report"], None, run.reason)
        attempt.results.append((run, result))
    if event.kind in ("evaluation", "stage") and attempt.folder is not None:
        write_progress(attempt.folder, run)  # what a killed server leaves behind
    return event.kind in ("evaluation", "stage", "parity", *DONE)


def _keep_model(attempt: Attempt, run: RunState, weights: dict) -> None:
    """Keep the unlearned model as its LoRA weights, for free questions and the adapter
    download (`adapters.py` puts them into a shared copy of the original model when used)."""
    kept = KeptAdapter(run.label, run.config, weights)
    attempt.models.append(kept)
    for kept_run, result in attempt.results:
        if kept_run is run:
            result.model = kept


def _wind_down(attempt: Attempt, following: Iterator[Message] | None) -> None:
    """Stop the work (within one step), mark what did not end, write the downloads, free the
    slot. Runs once per attempt, on the handler's thread or, after a cancel, on its own."""
    try:
        if following is not None:
            following.close()
    except Exception:
        LOG.exception("closing an attempt's work failed")
    for run in attempt.runs if attempt.checks else ():
        if run.check in ("waiting", "checking"):
            run.check = "stopped by the user" if attempt.stop.is_set() else "ended without a result"
    for number, run in enumerate(attempt.runs):
        if run.done:
            continue
        if number and run.status == "queued":
            run.mark_done("cancelled", "not run: the run before it did not finish")
        elif attempt.stop.is_set():
            run.mark_done("cancelled", run.stopped_reason())
        else:
            run.mark_done("failed", "the run ended without a result")
    try:
        _write_exports(attempt)
    except Exception:
        LOG.exception("writing an attempt's downloads failed")
    finally:
        if attempt.ticket is not None:
            attempt.queue.release(attempt.ticket)
        attempt.over = True
        give_back_freed_memory()


def give_back_freed_memory() -> None:
    """Hand the memory a finished run freed back to the system. A run that trained on a thread
    of this process left its tensors' pages in glibc's per-thread arenas, which keep them: the
    web process grew by ~200 MB over the first runs and wandered between 1.5 and 1.7 GB
    (benchmarks/memory.py). malloc_trim returns the free pages; elsewhere (not glibc) a no-op."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return


def time_cap_s() -> float | None:
    """The longest a run may hold the slot: twice the budget its estimate was admitted under
    (the estimate is arithmetic, not a promise), None where the host sets no budget."""
    budget = Limits.from_env().max_seconds
    return 2 * budget if budget else None


def _stopped_results(attempt: Attempt) -> None:
    """A run the page stopped got no last report from its work (the work was closed): its report
    is what the page received, as the engine's own stopped report would hold."""
    from clreg_core.engine.training import RunResult

    reported = {id(run) for run, _ in attempt.results}
    for run in attempt.runs:
        if id(run) in reported or not (run.losses or run.evaluations):
            continue
        report = {**progress_report(run), "status": run.status, "reason": run.reason}
        attempt.results.append((run, RunResult(run.status, run.config, report, None, run.reason)))


def _write_exports(attempt: Attempt) -> None:
    """The downloads of every run that left a report: a finished run's report and adapter, a
    stopped or failed run's report (history, points, reason); one page of their plots; the
    commands that rerun them."""
    folder = attempt.folder
    if folder is None:
        return
    for partial in folder.glob(f"*{IN_PROGRESS}"):  # the run ended: its report replaces them
        partial.unlink()
    _stopped_results(attempt)
    if not attempt.results:
        return
    prune_exports(EXPORT_ROOT, EXPORT_KEEP_S, keep=folder)
    for run, result in attempt.results:
        attempt.exports += export_run(folder, run, result, attempt.custom_text)
    runs = [run for run, _ in attempt.results]
    pages = [figures.live_scatter(runs), figures.live_curves(runs)]
    end_views = (figures.paper_view(runs), figures.layer_entanglement(runs),
                 figures.relearning_curves(runs))  # fmt: skip
    for end_view in end_views:
        pages += [end_view] if end_view is not None else []
    plots = folder / "plots.html"
    plots.write_text(figures.plots_html(pages), encoding="utf-8")
    attempt.exports.append(plots)
    attempt.commands = commands_text(runs, attempt.custom_text is not None)
