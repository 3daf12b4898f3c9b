"""One browser session's runs: start, stop, A/B, progress, figures, tables, free prompts, exports.

The app keeps one `Session` per browser tab (`SESSIONS.get(session_id)`); every handler is a
small call on it, so the whole app can be driven and tested without Gradio. A session runs at
most one attempt (a single run or an A/B pair) at a time; attempts of all sessions share the
process-wide `RUN_QUEUE`, so on a CPU one run trains while the others wait and see their place.
"""

from __future__ import annotations

import contextvars
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clreg_core import explore, figures
from clreg_core.config import RunConfig
from clreg_core.data.items import UnlearningTask
from clreg_core.data.sources import build_task
from clreg_core.errors import UserInputError
from clreg_core.models.loading import load_model
from clreg_core.run_export import commands_text, export_run, prune_exports
from clreg_core.run_queue import RUN_QUEUE, RunQueue
from clreg_core.run_state import RunState
from clreg_core.run_tables import NOT_PROVEN, generations_table, metrics_table

POLL_S = 0.05  # how often the worker hands a job's events to the run state
CURVES_EVERY_S = 3.0  # the shortest time between redraws of the curves for new losses alone
FIRST_POINTS_PAUSE_S = 1.0  # room for the page to draw the first points (about one timer tick)
# Downloads live here and nowhere else, so the app can allow serving exactly this folder.
EXPORT_ROOT = Path(tempfile.gettempdir()) / "clreg-lab-exports"
# Downloads older than this are deleted when a new run writes its own.
IDLE_SESSION_S = 3600.0  # a page unused this long loses its session (and its run state)
EXPORT_KEEP_S = 2 * IDLE_SESSION_S


PLACEHOLDERS = {"scatter": "placeholder", "curves": "placeholder"}


def _plotted(counts: tuple[int, ...]) -> object:
    """A plot's signature: how much it holds, or "placeholder" while it holds nothing (so the
    browser does not redraw an empty plot while a run moves from queued to loading)."""
    return counts if any(counts) else "placeholder"


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

    @property
    def active(self) -> bool:
        return not self.over and not self.stop.is_set()


class Session:
    def __init__(self, queue: RunQueue = RUN_QUEUE, gpu: Callable | None = None) -> None:
        self.queue = queue
        self.gpu = gpu  # spaces.GPU(...) on a ZeroGPU Space: the heavy work runs under it
        self.attempt: Attempt | None = None
        self.last_used = time.monotonic()
        self._lock = threading.RLock()
        self._ask_lock = threading.Lock()  # disable_adapter() toggles shared model state
        # What the page shows, by part; a new page starts with the placeholder plots.
        self._rendered: dict[str, object] = dict(PLACEHOLDERS)
        self._curves_drawn_at = 0.0

    # --- control ---
    def start(self, config: RunConfig, custom_text: str | None = None, ab: bool = False) -> None:
        """Queue a run (or, with `ab`, the base method alone then with CLReg, same data and seed).

        Mistakes the user can fix (own text, model name, offline hub) raise `UserInputError`
        here, before anything is queued."""
        with self._lock:
            if self.attempt is not None and self.attempt.active:
                raise UserInputError(
                    "a run is already going in this page; press Stop or wait for it to finish"
                )
            task = self._build_task(config, custom_text)
            configs = [config]
            if ab:
                configs = [config.with_changes(clreg=False), config.with_changes(clreg=True)]
            runs = [RunState(c) for c in configs]
            if self.attempt is not None:
                self._rendered.clear()  # the last attempt's plots go back to placeholders
            self.attempt = Attempt(runs, task, custom_text, self.queue.join())
            attempt = self.attempt
        # The worker carries the caller's context (a Gradio request on a Space), so work run
        # under spaces.GPU from that thread is tied to the request that asked for it.
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(self._work, attempt), name="clreg-session", daemon=True
        ).start()

    def stop(self) -> str:
        """Stop at once as far as the page is concerned; the job ends after its current step
        (or measurement) and keeps its queue slot until then, so the next run waits for it."""
        with self._lock:
            attempt = self.attempt
            if attempt is None or not attempt.active:
                return "nothing is running"
            attempt.stop.set()
            for run in attempt.runs:
                if not run.done:
                    where = f"at step {run.step}" if run.step else "before training"
                    run.mark_done("cancelled", f"stopped by the user {where}")
        return "stopped"

    def wait_for_first_points(self, timeout: float) -> None:
        """Return once the first run has its step-0 points, or the attempt is waiting in line,
        over, or stopped, or `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            attempt = self.attempt
            if attempt is None or not attempt.active:
                return
            first = attempt.runs[0]
            if first.evaluations or first.done:
                return
            if first.status == "queued" and self.queue.position(attempt.ticket):
                return  # someone else's run trains first: the timer will show the points
            time.sleep(POLL_S)

    @property
    def busy(self) -> bool:
        return self.attempt is not None and self.attempt.active

    # --- the worker ---
    @staticmethod
    def _build_task(config: RunConfig, custom_text: str | None) -> UnlearningTask:
        from clreg_core.models.loading import local_folder_for
        from clreg_core.models.registry import resolve_model

        spec = resolve_model(config.model)  # unknown model: a clear message now
        if spec.kind == "hub":
            local_folder_for(spec)  # offline and not cached: fails within seconds
        return build_task(config.task, model_key=spec.key, custom_text=custom_text or "")

    def _work(self, attempt: Attempt) -> None:
        try:
            if not self.queue.wait_turn(attempt.ticket, attempt.stop.is_set):
                return
            train = self.gpu(self._train_all) if self.gpu else self._train_all
            train(attempt)
        except Exception as error:  # a bug must not kill the app: show it as the run's failure
            for run in attempt.runs:
                if not run.done:
                    run.mark_done("failed", f"{type(error).__name__}: {error}")
        finally:
            self.queue.release(attempt.ticket)
            attempt.over = True

    def _train_all(self, attempt: Attempt) -> None:
        from clreg_core.jobs import Job
        from clreg_core.paper_view import paper_points
        from clreg_core.training import resolve_device

        original = None
        for run in attempt.runs:
            if attempt.stop.is_set():
                break
            run.mark_loading()
            try:
                device = resolve_device(run.config.device)
                loaded = load_model(run.config.model, device=str(device))
            except UserInputError as error:
                run.mark_done("failed", str(error))
                break
            job = Job(
                run.config,
                task=attempt.task,
                loaded=loaded,
                pause_after_first_points=FIRST_POINTS_PAUSE_S,
            ).start()
            self._follow(job, run, attempt)
            if job.result is not None and job.result.report:
                attempt.results.append((run, job.result))
            if job.result is None or job.result.status != "finished" or attempt.stop.is_set():
                break
            original, run.paper_points = paper_points(
                job.result.model, loaded, attempt.task, run, original
            )
            attempt.models.append((run.label, job.result.model, loaded))
        for run in attempt.runs:  # an A/B pair whose first run failed or was stopped
            if not run.done:
                run.mark_done("cancelled", "not run: the run before it did not finish")
        self._write_exports(attempt)

    @staticmethod
    def _follow(job, run: RunState, attempt: Attempt) -> None:
        """Hand the job's events to the run state until the job ends; after a Stop, tell the
        job to stop and let it wind down (the page already shows the run as stopped)."""
        while True:
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

    @staticmethod
    def _write_exports(attempt: Attempt) -> None:
        """The downloads of every run that left a report: a finished run's report and adapter,
        a stopped or failed run's report (history, points, reason); one page of their plots;
        the commands that rerun them."""
        if not attempt.results:
            return
        EXPORT_ROOT.mkdir(parents=True, exist_ok=True)
        prune_exports(EXPORT_ROOT, EXPORT_KEEP_S)
        folder = Path(tempfile.mkdtemp(dir=EXPORT_ROOT))
        for run, result in attempt.results:
            attempt.exports += export_run(folder, run, result, attempt.custom_text)
        runs = [run for run, _ in attempt.results]
        pages = [figures.live_scatter(runs), figures.live_curves(runs)]
        paper = figures.paper_view(runs)
        pages += [paper] if paper is not None else []
        plots = folder / "plots.html"
        plots.write_text(figures.plots_html(pages), encoding="utf-8")
        attempt.exports.append(plots)
        attempt.commands = commands_text(runs, attempt.custom_text is not None)

    # --- what the page shows ---
    def runs(self) -> list[RunState]:
        return list(self.attempt.runs) if self.attempt else []

    def progress(self) -> tuple[float, str]:
        """The share done (of the whole attempt) and a line saying where the attempt is."""
        attempt = self.attempt
        if attempt is None:
            return 0.0, "Pick a model and a topic, then press Run."
        runs = attempt.runs
        if runs[0].status == "queued" and not attempt.stop.is_set():
            position = self.queue.position(attempt.ticket)
            if position:
                return 0.0, f"Waiting for another user's run: you are number {position} in line."
        fraction = sum(r.fraction() for r in runs) / len(runs)
        lines = [r.progress_text() for r in runs if r.status != "queued" or r is runs[0]]
        if attempt.over is False and all(r.done for r in runs) and attempt.stop.is_set():
            lines.append("(the stopped job is winding down; a new run can start now)")
        elif all(r.status == "finished" for r in runs) and not attempt.over:
            lines.append("preparing the end view and the downloads…")
        return fraction, " | ".join(lines)

    def changes(self) -> dict[str, object]:
        """The parts of the page that changed since the last call, by name (see `render`).

        New loss values alone redraw the curves at most every `CURVES_EVERY_S`: each redraw
        costs the browser CPU that, on a small machine, the training needs."""
        runs = self.runs()
        over = self.attempt.over if self.attempt else False
        now = time.monotonic()
        evaluations = tuple(len(r.evaluations) for r in runs)
        losses = tuple(len(r.losses) for r in runs)
        statuses = tuple(r.status for r in runs)
        signatures = {
            "progress": self.progress(),
            "scatter": _plotted(evaluations),
            "curves": self._curves_signature(evaluations, losses, statuses, now),
            "final": (statuses, over),
        }
        changed = {}
        for part, signature in signatures.items():
            if self._rendered.get(part) != signature:
                self._rendered[part] = signature
                changed.update(self.render(part))
        if "curves" in changed:
            self._curves_drawn_at = now
        return changed

    def _curves_signature(self, evaluations, losses, statuses, now: float) -> object:
        """What the curves hold; while only losses were added since the last draw and that
        draw is recent, the drawn signature, so they are not redrawn yet."""
        if _plotted(evaluations + losses) == "placeholder":
            return "placeholder"
        drawn = self._rendered.get("curves")
        moments = (evaluations, statuses)  # these redraw at once
        if (
            isinstance(drawn, tuple)
            and drawn[0] == moments
            and now - self._curves_drawn_at < CURVES_EVERY_S
        ):
            return drawn
        return moments, losses

    def render(self, part: str) -> dict[str, object]:
        runs = self.runs()
        if part == "progress":
            return {"progress": self.progress()}
        if part == "scatter":
            return {"scatter": figures.live_scatter(runs)}
        if part == "curves":
            return {"curves": figures.live_curves(runs)}
        attempt = self.attempt
        metrics = metrics_table(runs)
        return {
            "paper": figures.paper_view(runs),
            "metrics": metrics,
            "generations": generations_table(runs),
            "note": NOT_PROVEN if metrics[1] else "",
            "exports": [str(p) for p in attempt.exports] if attempt and attempt.over else [],
            "commands": attempt.commands if attempt and attempt.over else "",
            "running": self.busy,
        }

    def summary(self) -> dict:
        """A JSON-able account of the attempt, for the API and for tests."""
        fraction, text = self.progress()
        return {
            "busy": self.busy,
            "over": self.attempt.over if self.attempt else True,
            "progress": round(fraction, 3),
            "text": text,
            "runs": [
                {
                    "label": r.label,
                    "status": r.status,
                    "step": r.step,
                    "evaluations": len(r.evaluations),
                    "reason": r.reason,
                    "metrics": (r.report or {}).get("metrics", {}).get("after", {}),
                }
                for r in self.runs()
            ],
        }

    # --- free prompts ---
    def ask(self, model_choice: str, question: str) -> list[list[str]]:
        """Rows of (model, answer): the original model and every finished unlearned model."""
        attempt = self.attempt
        models = list(attempt.models) if attempt else []
        if not models:
            answer = explore.ask(model_choice, question)
            return [["original", answer], ["unlearned", "(run unlearning first)"]]
        rows = []
        with self._ask_lock:
            for label, model, loaded in models:
                before, after = explore.ask_before_after(
                    model, loaded.tokenizer, loaded.prompt_style, question
                )
                if not rows:
                    rows.append(["original", before])
                rows.append([f"after {label}", after])
        return rows


def warm_up() -> threading.Thread:
    """Import the engine (torch, transformers, peft: ~3 s on 2 cores) and load the embedded model
    on a thread, so the first Run does not pay for the imports."""

    def load() -> None:
        import clreg_core.jobs  # noqa: F401
        import clreg_core.paper_view  # noqa: F401

        explore.MODELS.get("embedded")

    thread = threading.Thread(target=load, name="clreg-warm-up", daemon=True)
    thread.start()
    return thread


class SessionRegistry:
    """Sessions by browser-session id; idle ones are dropped after `idle_s`."""

    def __init__(self, idle_s: float = IDLE_SESSION_S) -> None:
        self.idle_s = idle_s
        self.gpu: Callable | None = None
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Session:
        now = time.monotonic()
        with self._lock:
            for key, old in list(self._sessions.items()):
                if now - old.last_used > self.idle_s and not old.busy:
                    del self._sessions[key]
            session = self._sessions.get(session_id)
            if session is None:
                session = self._sessions[session_id] = Session(gpu=self.gpu)
            session.last_used = now
            return session

    def drop(self, session_id: str) -> None:
        """The tab closed: stop its run so the queue moves on."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            session.stop()


SESSIONS = SessionRegistry()
