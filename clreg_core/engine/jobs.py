"""Run unlearning in the background: a thread per job, events handed over through a queue.

The runner builds no UI. A caller (the app, the CLI, a test) starts a job, drains its events
whenever it likes, and may cancel it at any point; the loop checks the stop flag before every
step, so a cancel takes effect within one step (or after the evaluation in progress).
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
import uuid
from dataclasses import dataclass, field

from clreg_core.config import RunConfig
from clreg_core.data.items import UnlearningTask
from clreg_core.engine.training import Event, RunResult, run_unlearning
from clreg_core.errors import UserInputError, redact_paths
from clreg_core.models.loading import LoadedModel

TERMINAL = ("finished", "failed", "cancelled")

LOG = logging.getLogger("clreg_lab")


@dataclass
class Job:
    config: RunConfig
    task: UnlearningTask | None = None
    loaded: LoadedModel | None = None  # an already-loaded model (else the job loads its own)
    # Seconds the job waits after handing over the first (step-0) points. On a 2-core machine the
    # "before" measurement that follows takes every core, and a page polling for those points
    # then takes seconds to draw them; a short pause lets it draw first.
    pause_after_first_points: float = 0.0
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    events: queue.Queue = field(default_factory=queue.Queue)
    result: RunResult | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _paused: bool = False  # the pause after the first points has been taken
    _thread: threading.Thread | None = None

    def start(self) -> Job:
        self._thread = threading.Thread(target=self._run, name=f"clreg-job-{self.id}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> RunResult | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.result

    def drain(self) -> list[Event]:
        """Every event that arrived since the last drain, oldest first."""
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def _run(self) -> None:
        try:
            self.result = run_unlearning(
                self.config,
                on_event=self._hand_over,
                should_stop=self._stop.is_set,
                task=self.task,
                loaded=self.loaded,
            )
        except UserInputError as error:  # a bad model, task or setting: say so plainly
            self._fail(str(error))
        except Exception as error:  # a bug: the trace goes to the server log, keep serving
            LOG.error("run failed: %s\n%s", self.config.to_json(), traceback.format_exc())
            said = redact_paths(f"{type(error).__name__}: {error}")
            self._fail(f"{said} (details in the server log)")

    def _hand_over(self, event: Event) -> None:
        self.events.put(event)
        first_points = event.kind == "evaluation" and event.step == 0 and not self._paused
        if first_points and self.pause_after_first_points:
            self._paused = True  # once: step 0 is sent again with its parity measures
            self._stop.wait(self.pause_after_first_points)  # a Stop ends the pause at once

    def _fail(self, reason: str) -> None:
        # No traceback here: the report is a download, and a trace shows server paths.
        report = {"config": self.config.to_dict(), "status": "failed", "reason": reason}
        self.result = RunResult("failed", self.config, report, None, reason)
        self.events.put(Event("failed", 0, {"reason": reason, "report": report}))
