"""Which greedy answers are well-formed (metrics/wellformed.py), for one task's questions.

World facts are judged by their sentence alone. Free text needs the original model: its
per-token loss of each answer, against a ceiling set from its own greedy answers
(`calibrate`, once, on the original model). An answer that loops (fluency.is_degenerate) is
never well-formed, whatever its loss: a loop can be likely text.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from clreg_core.data.items import Item
from clreg_core.engine.evaluation import Measurer
from clreg_core.metrics.fluency import is_degenerate
from clreg_core.metrics.wellformed import loss_ceiling, world_well_formed


class WellFormedJudge:
    def __init__(self, measurer: Measurer) -> None:
        self.measurer = measurer
        self.ceiling: float | None = None  # nats a token; set by `calibrate` for free text
        # (question, answer) -> the original model's loss: the original's own answers are
        # scored by `calibrate` and again for their share, and a frozen model's loss of an
        # answer does not change
        self._losses: dict[tuple[str, str], float] = {}

    @staticmethod
    def by_sentence(items: list[Item]) -> bool:
        """Whether these questions are all world facts, judged without a model."""
        return all(world_well_formed("", i.meta) is not None for i in items)

    def answer_losses(self, items: list[Item], answers: list[str]) -> np.ndarray:
        """The original model's mean per-token loss of each answer to its question (inf for an
        empty answer)."""
        keys = [(i.question, a) for i, a in zip(items, answers, strict=True)]
        new = [n for n, (_, a) in enumerate(keys) if a.strip() and keys[n] not in self._losses]
        if new:
            scored = [replace(items[n], answer=answers[n], accept=()) for n in new]
            passed = self.measurer.forced(self.measurer.encode(scored), [], adapter=False)
            for n, logp in zip(new, passed.mean_token_logp, strict=True):
                self._losses[keys[n]] = -float(logp)
        return np.array([self._losses.get(k, np.inf) for k in keys])

    def calibrate(self, items: list[Item], own_answers: list[str]) -> float | None:
        """Set the loss ceiling from the original model's own greedy answers to `items` (call
        it with the adapter off or zero); None for world facts, which need no ceiling."""
        if not items or self.by_sentence(items):
            return None
        self.ceiling = loss_ceiling(self.answer_losses(items, own_answers))
        return self.ceiling

    def flags(self, items: list[Item], answers: list[str]) -> list[bool]:
        """Whether each answer is well-formed."""
        loops = [is_degenerate(a) for a in answers]
        if self.by_sentence(items):
            pairs = zip(items, answers, strict=True)
            shaped = [bool(world_well_formed(a, i.meta)) for i, a in pairs]
        else:
            if self.ceiling is None:
                raise RuntimeError("calibrate the judge on the original model's answers first")
            shaped = list(self.answer_losses(items, answers) <= self.ceiling)
        return [s and not loop for s, loop in zip(shaped, loops, strict=True)]

    def ill_formed_share(self, items: list[Item], answers: list[str]) -> float:
        """The share of answers that are not well-formed (NaN for none)."""
        flags = self.flags(items, answers)
        return float(np.mean([not f for f in flags])) if flags else float("nan")
