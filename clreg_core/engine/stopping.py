"""When to stop unlearning: at retrain parity (`stop_at="parity"`) or after the set steps.

`ParityStop` watches the live evaluations' parity measures (metrics/parity.py). It says stop
when the forget items are indistinguishable from never-trained ones within the band, or when
the run went past parity (the forget items now look stranger than strangers). Either way, and
when the step ceiling comes first, the loop keeps the LoRA state of the evaluation closest to
parity: `improved` tells it when to save one.
"""

from __future__ import annotations

from dataclasses import dataclass

from clreg_core.metrics.parity import ParityBand, overshot, parity_distance

CONTINUE, REACHED, OVERSHOT = "continue", "reached", "overshot"
# what a check records
MEASURES = (
    "parity_auc",
    "forget_accuracy",
    "holdout_accuracy",
    "forget_degenerate",
    "forget_same_answer",
    "holdout_same_answer",
    "forget_ill_formed",
    "holdout_ill_formed",
    "retain_kept",
)
# A later state must be closer than this to replace the kept one: float noise in two equal
# distances (3.0000000000000004 vs 2.9999999999999996) must not decide which state is kept.
CLOSER_BY = 1e-9


@dataclass(frozen=True)
class ParityCheck:
    step: int
    measures: dict[str, float]
    distance: float  # ≤ 1.0 inside the band


class ParityStop:
    def __init__(self, band: ParityBand):
        self.band = band
        self.best: ParityCheck | None = None
        self.first_reached: ParityCheck | None = None
        self.overshoot: ParityCheck | None = None
        self.improved = False  # the last observation is the closest to parity so far

    def observe(self, step: int, measures: dict[str, float]) -> str:
        """One evaluation's measures in; `REACHED`, `OVERSHOT` or `CONTINUE` out."""
        kept = {name: float(measures[name]) for name in MEASURES if name in measures}
        check = ParityCheck(step, kept, parity_distance(kept, self.band))
        self.improved = self.best is None or check.distance < self.best.distance - CLOSER_BY
        if self.improved:
            self.best = check
        if check.distance <= 1.0:
            self.first_reached = self.first_reached or check
            return REACHED
        if overshot(measures, self.band):
            self.overshoot = self.overshoot or check
            return OVERSHOT
        return CONTINUE

    def summary(self) -> dict:
        """What the report says of parity: where it was reached (or that it was not), whether
        the run overshot, and which evaluation's state the run kept."""

        def described(check: ParityCheck | None) -> dict | None:
            if check is None:
                return None
            return {"step": check.step, "distance": round(check.distance, 4), **check.measures}

        return {
            "band": {
                "auc_tolerance": self.band.auc_tolerance,
                "accuracy_tolerance": self.band.accuracy_tolerance,
                "fluency_tolerance": self.band.fluency_tolerance,
                "retain_tolerance": self.band.retain_tolerance,
                "uses_auc": self.band.use_auc,
            },
            "reached": self.first_reached is not None,
            "reached_at": described(self.first_reached),
            "overshot_at": described(self.overshoot),
            "closest": described(self.best),
        }
