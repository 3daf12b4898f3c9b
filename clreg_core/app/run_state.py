"""What the app knows about one run, built up from the training loop's events.

A `RunState` is fed every event of a job (`apply`) and answers what the page shows: the stage,
the step, the time left, the evaluation points and curves, and at the end the report. It holds
plain Python data only, so figures and tables can be built from it without torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from clreg_core.config import RunConfig

DONE = ("finished", "failed", "cancelled")
METHOD_NAMES = {
    "gradascent": "GradAscent",
    "graddiff": "GradDiff",
    "npo": "NPO",
    "simnpo": "SimNPO",
    "rmu": "RMU",
}
# Measuring the unlearned model (plus the gold comparison) repeats the "before" measurement on
# the same items and adds a little; this factor turns the measured "before" time into an
# estimate of the time left after the last step.
AFTER_MEASURE_FACTOR = 1.3


def run_label(config: RunConfig) -> str:
    name = METHOD_NAMES.get(config.method, config.method)
    return f"{name} + CLReg" if config.clreg else name


@dataclass
class RunState:
    config: RunConfig
    label: str = ""
    status: str = "queued"  # queued | loading | running | finished | failed | cancelled
    stage: str = "starting"
    step: int = 0
    evaluations: list[dict[str, Any]] = field(default_factory=list)  # {"step", "metrics", "points"}
    losses: list[dict[str, float]] = field(default_factory=list)  # {"step", term: value, ...}
    report: dict[str, Any] | None = None
    parity: dict[str, Any] | None = None  # the "parity" event's data: where and why it stopped
    reason: str = ""
    paper_points: dict[str, Any] | None = None  # the static end view, filled after the run
    started_at: float | None = None
    stage_started_at: float | None = None
    before_seconds: float | None = None  # how long measuring the original model took
    worker_pid: int | None = None  # the process that computes it (a ZeroGPU worker's, or ours)
    device: str | None = None  # where it computes, as that process resolved it
    # The relearning check asked after the run ("gone or only hidden?"): "" (not asked),
    # waiting, checking, checked, or why it was not (stopped, could not run).
    check: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or run_label(self.config)

    @property
    def done(self) -> bool:
        return self.status in DONE

    def mark_loading(self, stage: str = "loading the model") -> None:
        self.status, self.stage = "loading", stage
        self.started_at = self.stage_started_at = time.monotonic()

    def mark_done(self, status: str, reason: str, report: dict | None = None) -> None:
        self.status, self.reason = status, reason
        self.stage = {"finished": "finished", "failed": "failed", "cancelled": "stopped"}[status]
        if report is not None:
            self.report = report

    def stopped_reason(self, by: str = "by the user") -> str:
        """What a Stop at this moment interrupted, in words (`by`: who or what stopped it)."""
        if self.step:
            return f"stopped {by} at step {self.step}"
        if self.status in ("loading", "running"):
            return f"stopped {by} while {self.stage}"
        return f"stopped {by} before training"

    def apply(self, event) -> None:
        """Take in one training event (see `clreg_core.engine.training.Event`)."""
        kind, data = event.kind, event.data
        now = time.monotonic()
        if kind == "started":
            self.status = "running"
            self.device = data.get("device")
        elif kind == "stage":
            if self.stage == "measuring the original model" and self.stage_started_at:
                self.before_seconds = now - self.stage_started_at
            self.stage, self.stage_started_at = data["stage"], now
        elif kind == "step":
            self.step = event.step
            self.losses.append({"step": event.step, **data["terms"]})
        elif kind == "evaluation":
            evaluation = {"step": event.step, "metrics": data["metrics"], "points": data["points"]}
            if self.evaluations and self.evaluations[-1]["step"] == event.step:
                self.evaluations[-1] = evaluation  # the same step again, parity measures added
            else:
                self.evaluations.append(evaluation)
        elif kind == "parity":
            self.parity = dict(data)
        elif kind in DONE:
            self.mark_done(kind, data.get("reason", ""), data.get("report"))

    # --- progress ---
    def fraction(self) -> float:
        """Share of the run done, for a progress bar: measuring is ~5% at each end."""
        if self.status == "finished":
            return 1.0
        if self.stage == "training":
            return 0.05 + 0.85 * self.step / self.config.steps
        if self.stage == "measuring the unlearned model":
            return 0.92
        return 0.02 if self.status in ("loading", "running") else 0.0

    def seconds_left(self) -> float | None:
        """An estimate of the seconds to the end of this run, or None before there is a basis."""
        if self.done or self.stage_started_at is None or self.before_seconds is None:
            return None
        after = AFTER_MEASURE_FACTOR * self.before_seconds
        in_stage = time.monotonic() - self.stage_started_at
        if self.stage == "training":
            if self.step == 0:
                return None
            per_step = in_stage / self.step  # wall clock per step, live evaluations included
            return per_step * (self.config.steps - self.step) + after
        if self.stage == "measuring the unlearned model":
            return max(0.0, after - in_stage)
        return None

    def progress_text(self) -> str:
        text = f"{self.label}: {self.stage}"
        if self.stage == "training" or self.status in DONE:
            text += f" · step {self.step}/{self.config.steps}"
        left = self.seconds_left()
        if left is not None:
            # Under the parity rule `steps` is a ceiling: the run may well end sooner.
            ceiling = self.stage == "training" and self.config.stop_at == "parity"
            text += f" · {'up to ' if ceiling else ''}about {max(1, round(left))} s left"
        if self.parity is not None:
            text += f" · {parity_text(self.parity)}"
        if self.reason and self.status in ("failed", "cancelled"):
            text += f" ({self.reason})"
        return text


def _at(check: dict | None, fallback: int) -> int:
    return check["step"] if check else fallback


def parity_text(parity: dict[str, Any]) -> str:
    """Where training stopped and why, in plain words, from the parity summary (the "parity"
    event's data, also report["parity"])."""
    trained = parity.get("trained_steps", 0)
    kept = parity.get("kept_step", trained)
    if not parity.get("measurable", False):
        return f"parity not measured: {parity.get('why', 'no never-trained items to compare')}"
    reason = parity.get("stopped_because", "")
    reached, overshot = parity.get("reached_at"), parity.get("overshot_at")
    if reason == "parity reached":
        return f"parity reached at step {_at(reached, trained)}"
    if reason == "already at parity before unlearning":
        return "already at parity before unlearning"
    if reason == "went past parity":
        past = f"went past parity at step {_at(overshot, trained)}"
        if not reached:  # never inside the band: it went from short of parity to beyond it
            past = f"went past the parity band at step {_at(overshot, trained)} without entering it"
        return f"{past}: kept step {kept}"
    if reason == "step ceiling, parity not reached":
        return f"parity not reached in {trained} steps: kept step {kept}"
    # "all steps done" (stop_at="steps"): say what parity did on the way
    text = f"all {trained} steps done"
    if reached:
        text += f"; parity reached at step {reached['step']}"
    if overshot:
        text += f"; went past parity at step {overshot['step']}"
        text += "" if reached else " without entering the band"
    if not reached and not overshot:
        text += "; parity not reached"
    return text
