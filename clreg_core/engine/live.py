"""The cheap evaluation shown while training, and the measures the parity stop rule reads.

Fixed, seeded items (`eval_items` per side) go through one teacher-forced pass each; the
forget/retain features are projected on a PCA basis fitted once, on the original model (step 0).
Where the task has a holdout the model never trained on, a third pass over holdout items gives
the parity measures (metrics/parity.py): the forget-vs-holdout LOSS membership AUC, and forget
accuracy against the holdout's. Live, "accuracy" is teacher-forced: the share of answers whose
value tokens ("Caldera Bay") are all the model's top prediction given the reference prefix
(`ForcedPass.value_known`). It comes from the same pass, where generating answers would cost
~3x the whole evaluation; the before/after table counts greedy answers that contain the value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clreg_core.config import RunConfig
from clreg_core.data.items import UnlearningTask
from clreg_core.engine.evaluation import (
    ForcedPass,
    Measurer,
    memorisation_scores,
    sample_items,
    separation,
)
from clreg_core.metrics import ProjectionBasis
from clreg_core.metrics.parity import ParityBand, parity_distance, parity_measures


class LiveView:
    def __init__(self, measurer: Measurer, task: UnlearningTask, config: RunConfig, layer: int):
        self.measurer = measurer
        self.layer = layer
        forget_items = sample_items(task.forget, config.eval_items, config.seed)
        self.forget = measurer.encode(forget_items)
        self.retain = measurer.encode(sample_items(task.retain, config.eval_items, config.seed + 1))
        self.forget_groups = [e.group for e in self.forget]
        self.basis: ProjectionBasis | None = None
        holdout_items = sample_items(task.holdout, config.eval_items, config.seed + 2)
        self.holdout = measurer.encode(holdout_items)
        self.forget_is_qa = np.array([i.kind == "qa" for i in forget_items], dtype=bool)
        self.holdout_is_qa = np.array([i.kind == "qa" for i in holdout_items], dtype=bool)
        self.band = ParityBand(
            config.parity_auc_tolerance,
            config.parity_accuracy_tolerance,
            use_auc=task.holdout_comparable,
        )

    @property
    def measures_parity(self) -> bool:
        """Parity needs questions on both sides: forget ones and never-trained ones."""
        return bool(self.forget_is_qa.any()) and bool(self.holdout_is_qa.any())

    def measure(self, step: int) -> dict[str, Any]:
        f = self.measurer.forced(self.forget, [self.layer], adapter=True)
        r = self.measurer.forced(self.retain, [self.layer], adapter=True)
        zf, zr = f.features[self.layer], r.features[self.layer]
        if self.basis is None:  # fitted once, on the original model (step 0)
            self.basis = ProjectionBasis.fit(np.concatenate([zf, zr]))
        metrics = separation(zf, zr)
        metrics["forget_answer_prob"] = memorisation_scores(f)["answer_prob"]
        metrics["retain_answer_prob"] = memorisation_scores(r)["answer_prob"]
        if self.measures_parity:
            metrics.update(self._parity(f))
        return {
            "metrics": metrics,
            "points": {
                "forget": np.round(self.basis.transform(zf), 4).tolist(),
                "retain": np.round(self.basis.transform(zr), 4).tolist(),
                "forget_groups": self.forget_groups,
            },
        }

    def _parity(self, forget: ForcedPass) -> dict[str, float]:
        holdout = self.measurer.forced(self.holdout, [], adapter=True)
        measures = parity_measures(
            forget.mean_token_logp,
            holdout.mean_token_logp,
            forget.value_known[self.forget_is_qa],
            holdout.value_known[self.holdout_is_qa],
        )
        measures["parity_distance"] = parity_distance(measures, self.band)
        return measures
