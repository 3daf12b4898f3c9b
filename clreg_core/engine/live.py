"""The cheap evaluation shown while training, and the measures the parity stop rule reads.

Fixed, seeded items (`eval_items` per side) go through one teacher-forced pass each; the
forget/retain features are projected on a PCA basis fitted once, on the original model (step 0).
Where the task has a holdout the model never trained on, the parity measures come too
(metrics/parity.py): the forget-vs-holdout LOSS membership AUC from a third teacher-forced pass,
and the greedy-answer accuracy on the forget questions against the holdout's, as the
before/after table counts it (an answer is right when it contains the value). The holdout's
accuracy is the chance level: what the original model gets right about people it never saw,
measured once, at step 0, where the adapter is still zero.

Accuracy is measured greedily, not teacher-forced, because the two part ways exactly where it
matters: an unlearned model that no longer says "Viakum Kousswick works as a lighthouse keeper"
word for word still answers "Kousswick works as a lighthouse keeper." (measured on forget05:
teacher-forced value accuracy 0.0 while greedy answers still held the value for 0.2-0.35).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clreg_core.config import RunConfig
from clreg_core.data.items import UnlearningTask
from clreg_core.engine.evaluation import (
    Measurer,
    answer_hits,
    memorisation_scores,
    qa_only,
    sample_items,
    separation,
)
from clreg_core.engine.well_formed import WellFormedJudge
from clreg_core.metrics import ProjectionBasis
from clreg_core.metrics.fluency import degenerate_share, same_answer_share
from clreg_core.metrics.parity import ParityBand, parity_distance, parity_measures


def parity_band(config: RunConfig, use_auc: bool = True) -> ParityBand:
    """The parity band a run's settings ask for; `use_auc` False where the task's holdout
    answers are not phrased like its forget answers (UnlearningTask.holdout_comparable)."""
    return ParityBand(
        config.parity_auc_tolerance,
        config.parity_accuracy_tolerance,
        fluency_tolerance=config.parity_fluency_tolerance,
        retain_tolerance=config.parity_retain_tolerance,
        same_answer_tolerance=config.parity_same_answer_tolerance,
        use_auc=use_auc,
    )


class LiveView:
    def __init__(self, measurer: Measurer, task: UnlearningTask, config: RunConfig, layer: int):
        self.measurer = measurer
        self.layer = layer
        forget_items = sample_items(task.forget, config.eval_items, config.seed)
        self.forget_questions = qa_only(forget_items)
        self.forget = measurer.encode(forget_items)
        self.retain = measurer.encode(sample_items(task.retain, config.eval_items, config.seed + 1))
        self.forget_groups = [e.group for e in self.forget]
        self.basis: ProjectionBasis | None = None
        holdout_items = sample_items(task.holdout, config.eval_items, config.seed + 2)
        self.holdout = measurer.encode(holdout_items)
        self.holdout_questions = qa_only(holdout_items)
        self.chance: list[bool] | None = None  # holdout hits of the original model
        self.chance_same_answer = 0.0  # how often its guesses about strangers repeat one answer
        self.chance_ill_formed = 0.0  # how many of its answers about strangers are not sentences
        self.judge = WellFormedJudge(measurer)
        self._forget_scores: np.ndarray | None = None  # from the last `measure`, for `parity`
        self._retain_prob: float | None = None  # likewise
        self._retain_prob_at_start: float | None = None  # the original model's
        self.band = parity_band(config, use_auc=task.holdout_comparable)

    @property
    def measures_parity(self) -> bool:
        """Parity needs questions on both sides: forget ones and never-trained ones."""
        return bool(self.forget_questions) and bool(self.holdout_questions)

    def measure(self, step: int) -> dict[str, Any]:
        f = self.measurer.forced(self.forget, [self.layer], adapter=True)
        r = self.measurer.forced(self.retain, [self.layer], adapter=True)
        zf, zr = f.features[self.layer], r.features[self.layer]
        if self.basis is None:  # fitted once, on the original model (step 0)
            self.basis = ProjectionBasis.fit(np.concatenate([zf, zr]))
        metrics = separation(zf, zr)
        metrics["forget_answer_prob"] = memorisation_scores(f)["answer_prob"]
        metrics["retain_answer_prob"] = memorisation_scores(r)["answer_prob"]
        self._forget_scores = f.mean_token_logp
        self._retain_prob = metrics["retain_answer_prob"]
        if self._retain_prob_at_start is None:
            self._retain_prob_at_start = self._retain_prob
        return {
            "metrics": metrics,
            "points": {
                "forget": np.round(self.basis.transform(zf), 4).tolist(),
                "retain": np.round(self.basis.transform(zr), 4).tolist(),
                "forget_groups": self.forget_groups,
            },
        }

    def parity(self) -> dict[str, float]:
        """The parity measures of the model `measure` just saw (call it right after): slower,
        since the forget questions are answered greedily, so a UI gets the points first."""
        holdout = self.measurer.forced(self.holdout, [], adapter=True)
        if self.chance is None:
            answers = self.measurer.answers(self.holdout_questions, adapter=False)
            self.chance = answer_hits(self.holdout_questions, answers)
            self.chance_same_answer = same_answer_share(answers)
            self.judge.calibrate(self.holdout_questions, answers)  # the original's own answers
            self.chance_ill_formed = self.judge.ill_formed_share(self.holdout_questions, answers)
        answers = self.measurer.answers(self.forget_questions, adapter=True)
        measures = parity_measures(
            self._forget_scores,
            holdout.mean_token_logp,
            answer_hits(self.forget_questions, answers),
            self.chance,
            degenerate_share(answers),
            retain_kept=self._retain_prob / max(self._retain_prob_at_start, 1e-12),
            forget_same_answer=same_answer_share(answers),
            holdout_same_answer=self.chance_same_answer,
            forget_ill_formed=self.judge.ill_formed_share(self.forget_questions, answers),
            holdout_ill_formed=self.chance_ill_formed,
        )
        measures["parity_distance"] = parity_distance(measures, self.band)
        # Whether the AUC counts (not on a pack): a chart shows what parity is judged on.
        measures["parity_uses_auc"] = float(self.band.use_auc)
        return measures
