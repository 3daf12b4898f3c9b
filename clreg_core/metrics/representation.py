"""How entangled forget and retain features are, and how far retain features moved.

All functions take plain (N, D) arrays of per-item features (see docs/method.md: mean-pooled hidden
states of one layer) and L2-normalise rows themselves, so every number here is measured on the unit
sphere, the geometry that CLReg's cosine InfoNCE acts on, whatever the caller passes.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, silhouette_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict

from ._checks import as_feature_pair, as_matrix, l2_normalize

FORGET, RETAIN = 1, 0

# Inverse L2 strength of the probe. Unit-norm features give small inputs, and sklearn's default
# C = 1 then under-fits folds of a few items; 10 lets the probe find a separating direction when
# there is one. No per-feature standardising: with few items it blows noise dimensions up to the
# size of the signal (it made a 2-vs-3 toy set with a clear margin score 0.5).
PROBE_C = 10.0


def _pooled(forget, retain, min_rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Normalised features stacked forget-first, with labels 1 = forget, 0 = retain."""
    f, r = as_feature_pair(forget, retain, min_rows)
    x = l2_normalize(np.concatenate([f, r]))
    labels = np.concatenate([np.full(len(f), FORGET), np.full(len(r), RETAIN)])
    return x, labels


def entanglement_score(forget_feats, retain_feats) -> float:
    """Entanglement score (Zhao et al. 2024, "What makes unlearning hard and what to do about it").

    On L2-normalised features, with mu_F, mu_R the forget and retain means and mu the mean of all
    points pooled:

        ES = [mean_R |phi - mu_R|^2 + mean_F |phi - mu_F|^2] / (0.5 (|mu_R - mu|^2 + |mu_F - mu|^2))

    i.e. within-set spread over between-set separation. Higher means more entangled. The raw value
    is returned (no log, no clipping). If the two means coincide exactly (denominator 0) the sets
    cannot be told apart by their centres at all and the score is `inf`.
    """
    x, labels = _pooled(forget_feats, retain_feats)
    f, r = x[labels == FORGET], x[labels == RETAIN]
    mu_f, mu_r, mu = f.mean(axis=0), r.mean(axis=0), x.mean(axis=0)
    within = np.mean(np.sum((r - mu_r) ** 2, axis=1)) + np.mean(np.sum((f - mu_f) ** 2, axis=1))
    between = 0.5 * (np.sum((mu_r - mu) ** 2) + np.sum((mu_f - mu) ** 2))
    if between == 0.0:
        return float("inf")
    return float(within / between)


def knn_separability(forget, retain, k: int = 10) -> float:
    """Leave-one-out k-nearest-neighbour balanced accuracy at telling forget from retain.

    Each point is classified by majority vote of its k most cosine-similar *other* points; a tied
    vote goes to the label of the single nearest neighbour. The score is balanced accuracy (mean of
    the per-set recalls) because forget sets are usually much smaller than retain sets: plain
    accuracy would reward calling everything "retain". 1.0 = perfectly separable, ~0.5 = mixed.
    k is clipped to N - 1 when the sets are small.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    x, labels = _pooled(forget, retain)
    n = len(x)
    if n < 2:
        raise ValueError("knn_separability needs at least 2 points in total")
    k = min(int(k), n - 1)
    similarity = x @ x.T  # (N, N) cosine similarities
    np.fill_diagonal(similarity, -np.inf)  # leave-one-out: a point is not its own neighbour
    # Stable sort so equal similarities resolve by index and the result is reproducible.
    neighbours = np.argsort(-similarity, axis=1, kind="stable")[:, :k]  # (N, k)
    forget_votes = (labels[neighbours] == FORGET).sum(axis=1)
    predicted = np.where(forget_votes * 2 > k, FORGET, RETAIN)
    tied = forget_votes * 2 == k
    predicted[tied] = labels[neighbours[tied, 0]]
    return float(balanced_accuracy_score(labels, predicted))


def linear_probe_accuracy(forget, retain, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated balanced accuracy of a logistic-regression probe for forget vs retain.

    Stratified folds (shuffled with `seed`) over L2-normalised features; classes are weighted
    inversely to their size so a small forget set is not ignored. The score is the balanced
    accuracy of the pooled out-of-fold predictions (one number over all points, steadier than
    averaging tiny folds). With small sets the fold count drops to the size of the smaller set; each
    set needs at least 2 points. Used both for separability and for "suppression vs removal": if a
    probe on the unlearned features still finds the forget items, the concept was hidden, not
    removed.
    """
    if int(folds) != folds or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    x, labels = _pooled(forget, retain, min_rows=2)
    n_splits = min(int(folds), int(np.bincount(labels).min()))
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    probe = LogisticRegression(C=PROBE_C, class_weight="balanced", max_iter=2000)
    predicted = cross_val_predict(probe, x, labels, cv=splitter)
    return float(balanced_accuracy_score(labels, predicted))


def person_folds(
    labels, groups, folds: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs in which every group (person) lies wholly on one side.

    Stratified by label, so both classes appear in each fold as far as the groups allow. The
    fold count drops to the number of groups of the rarer class; each class needs 2 groups."""
    labels, groups = np.asarray(labels), np.asarray(groups, dtype=object)
    per_class = [len(set(groups[labels == label])) for label in np.unique(labels)]
    if len(per_class) < 2 or min(per_class) < 2:
        raise ValueError("a grouped probe needs at least 2 groups in each class")
    splitter = StratifiedGroupKFold(n_splits=min(int(folds), min(per_class)), shuffle=True,
                                    random_state=seed)  # fmt: skip
    return list(splitter.split(np.zeros(len(labels)), labels, groups))


def membership_probe(forget, holdout, forget_groups, holdout_groups, folds: int = 5,
                     seed: int = 0) -> float:  # fmt: skip
    """Representation membership: can a linear probe on the features tell the forget items from
    items about people the model never saw, for people it was not trained on?

    Cross-validated by person (`person_folds`): a probe that had seen a test person's other facts
    in training would recognise that person, not membership, and score high on any features.
    Balanced accuracy of the pooled out-of-fold predictions, like `linear_probe_accuracy`.
    0.5: the weights cannot tell who was forgotten; a model that never saw either set scores
    about that (it knows neither). The groups are per item, in the order of the rows."""
    x, labels = _pooled(forget, holdout, min_rows=2)
    groups = [*forget_groups, *holdout_groups]
    if len(groups) != len(x):
        raise ValueError(f"{len(groups)} group labels for {len(x)} rows")
    probe = LogisticRegression(C=PROBE_C, class_weight="balanced", max_iter=2000)
    predicted = cross_val_predict(probe, x, labels, cv=person_folds(labels, groups, folds, seed))
    return float(balanced_accuracy_score(labels, predicted))


def silhouette(forget, retain) -> float:
    """Mean silhouette coefficient (cosine distance) of the forget/retain labelling.

    In [-1, 1]: near 1 the two sets form tight, distant clusters; near 0 they overlap; negative when
    points sit closer to the other set than to their own. Needs at least 3 points in total.
    """
    x, labels = _pooled(forget, retain)
    if len(x) < 3:
        raise ValueError("silhouette needs at least 3 points in total")
    return float(silhouette_score(x, labels, metric="cosine"))


def retain_feature_shift(before, after) -> float:
    """Mean cosine distance 1 - cos(before_i, after_i) between paired rows.

    Row i of `before` (original model) and `after` (unlearned model) must be the same item. 0 means
    the retain features did not move; a zero row counts as distance 1 from anything.
    """
    b = as_matrix("before", before)
    a = as_matrix("after", after)
    if b.shape != a.shape:
        raise ValueError(f"before and after must have the same shape, got {b.shape} vs {a.shape}")
    cosine = np.sum(l2_normalize(b) * l2_normalize(a), axis=1)
    return float(np.mean(1.0 - cosine))
