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
from clreg_core.engine import phase_costs
from clreg_core.metrics.parity import final_text

DONE = ("finished", "failed", "cancelled")
METHOD_NAMES = {
    "gradascent": "GradAscent",
    "graddiff": "GradDiff",
    "npo": "NPO",
    "simnpo": "SimNPO",
    "rmu": "RMU",
}


# What "measuring the original model" is when its measurement is read back from the cache
KEPT_BEFORE_STAGE = "reading the original model's kept measurement"


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
    worker_pid: int | None = None  # the process that computes it (a ZeroGPU worker's, or ours)
    device: str | None = None  # where it computes, as that process resolved it
    # The relearning check asked after the run ("gone or only hidden?"): "" (not asked),
    # waiting, checking, checked, or why it was not (stopped, could not run).
    check: str = ""
    # Measured costs of later phases (read once), and the end the shown countdown keeps.
    _costs: dict[str, float | None] = field(default_factory=dict, repr=False)
    _end: tuple[str, float] | None = field(default=None, repr=False)

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
        self.stage_started_at = time.monotonic()  # the end view's wait counts from here
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
            self.stage, self.stage_started_at = data["stage"], now
            if data.get("kept"):  # the original's measurement is read back: a moment
                self.stage = KEPT_BEFORE_STAGE
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

    def parity_uses_auc(self) -> bool:
        """Whether this run's parity reads the membership AUC (people of the invented world
        against strangers); a topic pack's or own text's does not. From the live evaluations'
        flag (there from the first parity measures on), else the parity summary's band (reports
        from before either: it did)."""
        flags = [e["metrics"]["parity_uses_auc"] for e in self.evaluations
                 if "parity_uses_auc" in e["metrics"]]  # fmt: skip
        if flags:
            return all(flags)
        band = (self.parity or (self.report or {}).get("parity") or {}).get("band") or {}
        return bool(band.get("uses_auc", True))

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

    def measured_cost(self, phase: str) -> float | None:
        """What `phase` took in earlier runs of this model here (engine/phase_costs.py), read
        once per run: the page asks every second."""
        if phase not in self._costs:
            key = phase_costs.cost_key(self.config.model, self.device, self.config.final_eval_items)
            self._costs[phase] = phase_costs.expected(key, phase)
        return self._costs[phase]

    def _raw_seconds_left(self) -> float | None:
        """This stage's estimate of the seconds to the end of the run (training: of its steps
        and the measuring after them where that was measured before), or None without a basis."""
        if self.done or self.stage_started_at is None:
            return None
        in_stage = time.monotonic() - self.stage_started_at
        after = self.measured_cost(phase_costs.MEASURE_AFTER)
        if self.stage == "training":
            # Only once a whole cycle of steps and a live evaluation is in: the first steps
            # alone are quicker than the pace with evaluations.
            if self.step < min(self.config.eval_every, self.config.steps):
                return None
            per_step = in_stage / self.step  # wall clock per step, live evaluations included
            return per_step * (self.config.steps - self.step) + (after or 0.0)
        if self.stage == "measuring the unlearned model" and after is not None:
            return after - in_stage
        if self.stage == "measuring the original model":  # this measurement's own time
            before = self.measured_cost(phase_costs.MEASURE_BEFORE)
            return None if before is None else before - in_stage
        return None

    def seconds_left(self) -> float | None:
        """The seconds left to show: within a stage it never climbs (an estimate that grows, as
        the pace per step does while a live evaluation runs, keeps the earlier end), and below
        zero the estimate ran out (`progress_text` says so instead of a number)."""
        raw = self._raw_seconds_left()
        if raw is None:
            return None
        now = time.monotonic()
        end = now + raw
        if self._end and self._end[0] == self.stage:
            end = min(end, self._end[1])
        self._end = (self.stage, end)
        return end - now

    def end_view_text(self) -> str:
        """The wait between the report and the end view (its embeddings), with the measured
        estimate where this model's end view was made here before."""
        text = "preparing the end view and the downloads"
        cost = self.measured_cost(phase_costs.END_VIEW)
        if cost is None or self.stage_started_at is None:
            return text + "…"
        left = cost - (time.monotonic() - self.stage_started_at)
        return text + (f" · about {round(left)} s left" if left >= 0.5 else
                       " · taking longer than estimated")  # fmt: skip

    def progress_text(self) -> str:
        text = f"{self.label}: {self.stage}"
        if self.stage == "training" or self.status in DONE:
            text += f" · step {self.step}/{self.config.steps}"
        left = self.seconds_left()
        if left is not None and left < 0.5:
            text += " · taking longer than estimated"
        elif left is not None:
            # Under the parity rule `steps` is a ceiling: the run may well end sooner.
            ceiling = self.stage == "training" and self.config.stop_at == "parity"
            what = " of training" if self.stage == "training" and not self.measured_cost(
                phase_costs.MEASURE_AFTER) else ""  # fmt: skip
            if self.stage == "measuring the original model":
                what = " of this measurement"  # training's length is not known yet
            text += f" · {'up to ' if ceiling else ''}about {round(left)} s{what} left"
        if self.parity is not None:
            text += f" · {parity_text(self.parity)}"
        if self.reason and self.status in ("failed", "cancelled"):
            text += f" ({self.reason})"
        return text


def _at(check: dict | None, fallback: int) -> int:
    return check["step"] if check else fallback


def parity_text(parity: dict[str, Any]) -> str:
    """Where training stopped and why, in plain words, from the parity summary (the "parity"
    event's data, also report["parity"]), and whether the final measurement agrees."""
    text = _stop_text(parity)
    return text + final_text(parity) if parity.get("measurable", False) else text


def _stop_text(parity: dict[str, Any]) -> str:
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
