"""Metrics as pure functions of arrays: no model code, each checked in tests/test_metrics.py.

- representation: entanglement score, kNN / linear-probe separability, silhouette, retain shift,
  representation membership (a forget-vs-holdout probe cross-validated by person)
- projection: the 2-D PCA basis fitted once per run for the plots
- text: ROUGE-L recall, extraction strength, exact memorisation, answer probability
- privacy: MIA AUC, Min-K% Prob, truth ratio, Forget Quality, PrivLeak
"""

from .privacy import forget_quality, mia_auc, min_k_percent_score, privleak, truth_ratio
from .projection import ProjectionBasis
from .representation import (
    entanglement_score,
    knn_separability,
    linear_probe_accuracy,
    membership_probe,
    retain_feature_shift,
    silhouette,
)
from .text import (
    answer_probability,
    exact_memorization,
    extraction_strength,
    rouge_l_recall,
)

__all__ = [
    "ProjectionBasis",
    "answer_probability",
    "entanglement_score",
    "exact_memorization",
    "extraction_strength",
    "forget_quality",
    "knn_separability",
    "linear_probe_accuracy",
    "membership_probe",
    "mia_auc",
    "min_k_percent_score",
    "privleak",
    "retain_feature_shift",
    "rouge_l_recall",
    "silhouette",
    "truth_ratio",
]
