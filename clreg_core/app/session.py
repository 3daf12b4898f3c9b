"""One browser session: the page's calls (start, stop, A/B, free prompts, what changed).

The app keeps one `Session` per browser tab (`SESSIONS.get(session_id)`); every handler is a
small call on it, so the whole app can be driven and tested without Gradio. A session runs at
most one attempt (a single run or an A/B pair) at a time; attempts of all sessions share a
process-wide queue (`hosting.py` says which), so on a CPU one run trains while the others wait
and see their place. The session holds the control; the Run handler follows the attempt
(`attempts.py`), the work itself runs where `hosting.py` places it (`worker.py`), and what the
page shows of it lives in `page.py`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from clreg_core.app import explore
from clreg_core.app.attempts import IDLE_SESSION_S, Attempt, run_attempt
from clreg_core.app.hosting import Hosting
from clreg_core.app.limits import check_line
from clreg_core.app.page import PageView
from clreg_core.app.restarts import Interrupted
from clreg_core.app.run_state import RunState
from clreg_core.app.run_tables import finished
from clreg_core.app.worker import WorkOrder
from clreg_core.config import RunConfig
from clreg_core.data.custom_text import NOTHING_TO_FORGET
from clreg_core.data.items import UnlearningTask
from clreg_core.engine.budget import (
    Estimate,
    Limits,
    admit,
    check_budget,
    check_estimate,
    duration_text,
)
from clreg_core.engine.tasks import task_for_model
from clreg_core.errors import UserInputError


class Session:
    def __init__(self, hosting: Hosting | None = None) -> None:
        self.hosting = hosting or Hosting()  # where runs compute: this process, or ZeroGPU
        self.attempt: Attempt | None = None
        self.caller: str | None = None  # the address that started the current attempt
        self.page = PageView()
        self.last_used = time.monotonic()
        self._lock = threading.RLock()
        # Finished runs of this tab's earlier attempts, oldest first (plain data: their models
        # are let go, only what the page shows of them stays), for the runs list.
        self.earlier_runs: list[RunState] = []
        self.uploads: set[Path] = set()  # files uploaded from this page: the only ones it may use
        self.page_key: str | None = None  # the browser's own key (restarts.py), once it loaded

    # --- control ---
    def start(
        self,
        config: RunConfig,
        custom_text: str | None = None,
        ab: bool = False,
        caller: str | None = None,
    ) -> None:
        """Set up a run (or, with `ab`, the base method alone then with CLReg, same data and
        seed); `follow` then carries it out. Mistakes the user can fix (own text, model name,
        offline hub, settings beyond this host's budget) raise `UserInputError` here, before
        anything is queued."""
        with self._lock:
            if self.attempt is not None and self.attempt.active:
                raise UserInputError(
                    "a run is already going in this page; press Stop or wait for it to finish"
                )
            config = self._go_on_anyway(config, custom_text)
            task, embedded = self._build_task(config, custom_text)
            place = self.hosting.place(config, embedded)
            check_line(place.queue.waiting_count)
            if place.device:  # pinned here, whatever "auto" would say (on ZeroGPU: a GPU)
                config = config.with_changes(device=place.device)
            configs = [config]
            if ab:
                configs = [config.with_changes(clreg=False), config.with_changes(clreg=True)]
            # the model's shape and this host's budget, before queueing or loading anything
            estimates = [
                admit(c, task, Limits.from_env(), place.estimate_on, not place.zero_gpu)
                for c in configs
            ]
            gpu_seconds = self.hosting.gpu_request_s(estimates) if place.zero_gpu else 0.0
            runs = [RunState(c) for c in configs]
            if place.zero_gpu:
                asks = self.hosting.quota_text(gpu_seconds)
                runs[0].stage = f"waiting for a ZeroGPU GPU (this run asks for {asks})"
            order = WorkOrder(tuple(configs), task, gpu_seconds, place.first_points_pause_s)
            if self.attempt is not None:
                self.page.reset()
                self.earlier_runs = (self.earlier_runs + finished(self.attempt.runs))[-KEEP_RUNS:]
            self.attempt = Attempt(
                runs, task, custom_text, order, place.work, place.queue, page_key=self.page_key
            )
            self.caller = caller

    def _go_on_anyway(self, config: RunConfig, custom_text: str | None) -> RunConfig:
        """Run again on the same own text after "nothing to forget": the user saw the message
        and goes on anyway (the report still records what the model knew)."""
        last = self.attempt
        if last is None or config.task != "custom" or last.custom_text != custom_text:
            return config
        refused = [r for r in last.runs if r.reason.startswith(NOTHING_TO_FORGET)]
        # the same settings (an A/B pair's first run has CLReg off: CLReg aside)
        same = {"device": config.device, "clreg": config.clreg}
        if refused and refused[0].config.with_changes(**same) == config:
            return config.with_changes(even_if_unknown=True)
        return config

    def start_check(self, caller: str | None = None) -> None:
        """Set up the relearning check (gone or only hidden?) of this tab's last finished runs,
        rebuilt from their kept LoRA weights; `follow` carries it out like a run, in the same
        line. Their reports gain the `relearning` block and the downloads are written anew."""
        from clreg_core.models.registry import resolve_model

        with self._lock:
            last = self.attempt
            if last is not None and last.active:
                raise UserInputError(
                    "a run is already going in this page; the check can start when it ends"
                )
            runs, weights = self._unchecked_runs(last)
            configs = [run.config.with_changes(relearn_check=True) for run in runs]
            embedded = resolve_model(configs[0].model).kind == "embedded"
            place = self.hosting.place(configs[0], embedded)
            check_line(place.queue.waiting_count)
            device = place.estimate_on or "cpu"
            estimates = [check_estimate(c, last.task, device) for c in configs]
            seconds = sum(e.seconds for e in estimates)
            check_budget(Estimate(seconds, 0.0, {"the check": seconds}), Limits.from_env())
            gpu_seconds = self.hosting.gpu_request_s(estimates) if place.zero_gpu else 0.0
            order = WorkOrder(tuple(configs), last.task, gpu_seconds, 0.0, tuple(weights))
            for run in runs:
                run.check = "waiting"
            self.page.reset()
            self.attempt = Attempt(
                runs, last.task, last.custom_text, order, place.work, place.queue,
                models=last.models, results=[r for r in last.results if r[0] in runs],
                page_key=self.page_key, checks=True, estimate=_check_cost(seconds, gpu_seconds),
            )  # fmt: skip
            self.caller = caller

    @staticmethod
    def _unchecked_runs(last: Attempt | None) -> tuple[list[RunState], list[dict]]:
        """The last attempt's finished runs that have no relearning check yet, and their LoRA
        weights; UserInputError where there are none."""
        pairs = []
        for run in last.runs if last else []:
            kept = next((k for k in last.models if k.config == run.config), None)
            checked = "same_lora" in ((run.report or {}).get("relearning") or {})
            if run.status == "finished" and kept is not None and not checked:
                pairs.append((run, kept.weights))
        if not pairs:
            raise UserInputError(
                "nothing to check: the check attacks the model a finished run made, and this "
                "page's last run is "
                + ("already checked" if last and finished(last.runs) else "not a finished run")
            )
        return [run for run, _ in pairs], [weights for _, weights in pairs]

    def follow(self) -> Iterator[None]:
        """Carry out the attempt `start` set up, yielding whenever the page may redraw: the
        body of the Run handler (`attempts.run_attempt`)."""
        return run_attempt(self.attempt)

    def stop(self, by: str = "by the user") -> str:
        """Stop at once as far as the page is concerned; the work ends after its current step
        (or measurement) and keeps its queue slot until then, so the next run waits for it.
        `by` says who or what stopped it, in the runs' reason."""
        with self._lock:
            attempt = self.attempt
            if attempt is None or not attempt.active:
                return "nothing is running"
            attempt.stop.set()
            for run in attempt.runs:
                if not run.done:
                    run.mark_done("cancelled", run.stopped_reason(by))
        return "stopped"

    # --- uploads: a file field may only name a file this page uploaded ---
    def keep_upload(self, path: str) -> None:
        self.uploads.add(Path(path).resolve())

    def check_upload(self, path: str) -> None:
        """Refuse a file this page did not upload (another page's upload, a server path): an
        upload field holds a server path, which anyone can type into an API call."""
        if Path(path).resolve() not in self.uploads:
            raise UserInputError(
                "that file was not uploaded from this page: upload it here (API clients: send "
                "it to /attach first, or put its text in the text field)"
            )

    @property
    def busy(self) -> bool:
        return self.attempt is not None and self.attempt.active

    @staticmethod
    def _build_task(config: RunConfig, custom_text: str | None) -> tuple[UnlearningTask, bool]:
        """The run's task, and whether its model is the embedded one."""
        from clreg_core.models.loading import local_folder_for
        from clreg_core.models.registry import resolve_model

        spec = resolve_model(config.model)  # unknown model: a clear message now
        if spec.kind == "hub":
            local_folder_for(spec)  # offline and not cached: fails within seconds
        task = task_for_model(config.task, spec, custom_text=custom_text or "")
        return task, spec.kind == "embedded"

    # --- what the page shows (page.py) ---
    def runs(self) -> list[RunState]:
        return list(self.attempt.runs) if self.attempt else []

    def progress(self) -> tuple[float, str]:
        return self.page.progress(self.attempt)

    def changes(self) -> dict[str, object]:
        return self.page.changes(self.attempt)

    def render(self, part: str) -> dict[str, object]:
        return self.page.render(part, self.attempt)

    def summary(self) -> dict:
        return self.page.summary(self.attempt)

    # --- the runs list: this tab's finished runs ---
    def run_history(self) -> list[RunState]:
        """This tab's finished runs, oldest first, numbered by their place here (#1, #2, …):
        the earlier attempts' and, once finished, the current one's."""
        current = finished(self.attempt.runs) if self.attempt is not None else []
        return self.earlier_runs + current

    def picked_runs(self, numbers: list[int]) -> list[RunState]:
        """Runs of the list by number, each labelled with its number so that two runs of the
        same method stay apart in a comparison."""
        history = self.run_history()
        picked = []
        for number in numbers:
            if not 1 <= number <= len(history):
                raise UserInputError(f"there is no run #{number} in this tab's list")
            run = history[number - 1]
            picked.append(dataclasses.replace(run, label=f"#{number} {run.label}"))
        return picked

    # --- free prompts ---
    def ask(self, model_choice: str, question: str, task: str | None = None) -> list[list[str]]:
        """Rows of (model, answer): the original model, every finished unlearned model, and,
        for a model with a gold twin (retrained without the forget set), the gold model: what a
        model that never saw those people says. `task` (the page's topic) names what the gold
        model never saw before a run; after one, the run's task does."""
        attempt = self.attempt
        # Only this tab's runs of the chosen model and topic answer: after switching to another
        # model, the last run's unlearned model is not the one the page now asks about.
        runs = [r for r in (attempt.runs if attempt else []) if _of(r.config, model_choice, task)]
        models = [
            k for k in (attempt.models if attempt else []) if _of(k.config, model_choice, task)
        ]
        if not models:
            answer = explore.ask(model_choice, question)
            waiting = [[f"after {r.label}", _not_yet(r)] for r in runs]
            none_yet = ["unlearned", "(no run of this model and topic in this tab yet: press Run)"]
            rows = [["original", answer], *(waiting or [none_yet])]
            loaded = explore.MODELS.get(model_choice)
            return rows + self._gold_rows(loaded.spec, question, task)
        rows = []
        for kept in models:
            before, after = kept.ask(question)
            if not rows:
                rows.append(["original", before])
            rows.append([f"after {kept.label}", after])
        # An A/B pair halfway: the first model answers now, the second says when it will.
        answered = {kept.label for kept in models}
        for run in runs:
            if run.label not in answered:
                rows.append([f"after {run.label}", _not_yet(run)])
        loaded = models[0].loaded
        task = attempt.runs[0].config.task
        return rows + self._gold_rows(loaded.spec, question, task)

    @staticmethod
    def _gold_rows(spec, question: str, task: str | None) -> list[list[str]]:
        answer = explore.ask_gold(spec, question)
        return [] if answer is None else [[explore.gold_label(spec, task), answer]]


KEEP_RUNS = 30  # the runs list's length: plain data, a few hundred kB a run at most


def _of(config: RunConfig, model_choice: str, task: str | None) -> bool:
    """Whether a run's config is of this model (and of this topic, where one is given)."""
    return config.model == model_choice and (task is None or config.task == task)


def _check_cost(seconds: float, gpu_seconds: float) -> str:
    """The check's estimate in words; on ZeroGPU, the GPU time it asks for."""
    text = f"about {duration_text(seconds)}"
    return text + (f" ({gpu_seconds:.0f} s of ZeroGPU time asked)" if gpu_seconds else "")


def _not_yet(run: RunState) -> str:
    """Why a run of the attempt cannot answer yet."""
    if run.done:
        return f"({run.status}: no unlearned model to ask)"
    if run.status == "queued":
        return "(runs next: ask again when it has finished)"
    return f"(still {run.stage}: ask again when it has finished)"


def warm_up() -> threading.Thread:
    """Import the engine (torch, transformers, peft: ~3 s on 2 cores) and load the embedded model
    on a thread, so the first Run does not pay for the imports."""

    def load() -> None:
        import clreg_core.app.paper_view  # noqa: F401
        import clreg_core.engine.jobs  # noqa: F401

        explore.MODELS.get("embedded")

    thread = threading.Thread(target=load, name="clreg-warm-up", daemon=True)
    thread.start()
    return thread


class SessionRegistry:
    """Sessions by browser-session id; idle ones are dropped after `idle_s`."""

    def __init__(self, idle_s: float = IDLE_SESSION_S) -> None:
        self.idle_s = idle_s
        self.hosting = Hosting()  # app.py sets ZeroGPU's, once, at import
        self.interrupted = Interrupted()  # what the last restart cut short (app.launch sets it)
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
                session = self._sessions[session_id] = Session(self.hosting)
            session.last_used = now
            return session

    def peek(self, session_id: str) -> Session | None:
        """The session, if there is one, without counting as a call from it."""
        with self._lock:
            return self._sessions.get(session_id)

    def check_caller(self, caller: str, session_id: str) -> None:
        """One run at a time per address: refuse a run while another page or API client of the
        same address has one queued or running."""
        with self._lock:
            others = [s for key, s in self._sessions.items() if key != session_id]
        if any(s.caller == caller and s.busy for s in others):
            raise UserInputError(
                "a run from your address is already going in another page or API client; stop "
                "it there, or wait for it to finish"
            )

    def drop(self, session_id: str) -> None:
        """The tab closed: stop its run so the queue moves on."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            session.stop()


SESSIONS = SessionRegistry()
