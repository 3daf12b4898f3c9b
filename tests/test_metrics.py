"""Metrics against hand-computed values, naive references and expected properties."""

import itertools
import json
import math
from functools import cache

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from clreg_core.metrics import (
    ProjectionBasis,
    answer_probability,
    entanglement_score,
    exact_memorization,
    extraction_strength,
    forget_quality,
    knn_separability,
    linear_probe_accuracy,
    mia_auc,
    min_k_percent_score,
    privleak,
    retain_feature_shift,
    rouge_l_recall,
    silhouette,
    truth_ratio,
)
from clreg_core.metrics.text import lcs_length, words


def _clusters(rng, n_forget=60, n_retain=120, dim=16, separated=True):
    """Two point clouds: tight around different axes, or both drawn from one distribution."""
    if separated:
        forget = np.eye(dim)[0] + 0.05 * rng.standard_normal((n_forget, dim))
        retain = np.eye(dim)[1] + 0.05 * rng.standard_normal((n_retain, dim))
    else:
        forget = rng.standard_normal((n_forget, dim))
        retain = rng.standard_normal((n_retain, dim))
    return forget, retain


# ---------------------------------------------------------------- entanglement score


def test_entanglement_score_hand_computed_four_points():
    # Unit vectors: mu_F = (.5, .5), mu_R = (-.5, -.5), mu = 0. Each point is .5 (squared) from its
    # own mean, so the numerator is .5 + .5 = 1; the denominator is (.5 + .5) / 2 = .5.
    forget = [[1.0, 0.0], [0.0, 1.0]]
    retain = [[-1.0, 0.0], [0.0, -1.0]]
    assert entanglement_score(forget, retain) == pytest.approx(2.0)
    # Same directions at other lengths: features are normalised inside.
    assert entanglement_score([[2.0, 0.0], [0.0, 3.0]], [[-5.0, 0.0], [0.0, -0.5]]) == (
        pytest.approx(2.0)
    )


def test_entanglement_score_uses_the_pooled_mean():
    # Unequal sizes make the pooled mean (0, 1/3) differ from the mean of the two means.
    # within = .5 + 0; between = (|mu_R - mu|^2 + |mu_F - mu|^2) / 2 = (10/9 + 5/18) / 2 = 25/36.
    forget = [[1.0, 0.0], [0.0, 1.0]]
    retain = [[-1.0, 0.0]]
    assert entanglement_score(forget, retain) == pytest.approx(0.5 / (25 / 36))


def _naive_entanglement(forget, retain):
    norm = [[v / math.sqrt(sum(c * c for c in row)) for v in row] for row in forget + retain]
    f, r = norm[: len(forget)], norm[len(forget) :]

    def mean(rows):
        return [sum(col) / len(rows) for col in zip(*rows, strict=True)]

    def sq(a, b):
        return sum((x - y) ** 2 for x, y in zip(a, b, strict=True))

    mu_f, mu_r, mu = mean(f), mean(r), mean(norm)
    within = sum(sq(p, mu_r) for p in r) / len(r) + sum(sq(p, mu_f) for p in f) / len(f)
    return within / (0.5 * (sq(mu_r, mu) + sq(mu_f, mu)))


def test_entanglement_score_matches_explicit_loop():
    rng = np.random.default_rng(0)
    forget, retain = rng.standard_normal((7, 5)), rng.standard_normal((11, 5)) + 0.3
    expected = _naive_entanglement(forget.tolist(), retain.tolist())
    assert entanglement_score(forget, retain) == pytest.approx(expected, rel=1e-10)


def test_entanglement_separated_far_below_interleaved():
    rng = np.random.default_rng(1)
    separated = entanglement_score(*_clusters(rng, separated=True))
    interleaved = entanglement_score(*_clusters(rng, separated=False))
    assert separated < 0.5  # ~0.13 for this noise level
    assert interleaved > 100 * separated  # ~300


def test_entanglement_identical_sets_is_inf():
    points = [[1.0, 0.0], [0.0, 1.0]]
    assert entanglement_score(points, points) == math.inf


# ---------------------------------------------------------------- separability


def test_knn_and_probe_near_one_for_separated_clusters():
    forget, retain = _clusters(np.random.default_rng(2), separated=True)
    assert knn_separability(forget, retain) == 1.0
    assert linear_probe_accuracy(forget, retain) == 1.0


def test_knn_and_probe_near_chance_for_one_distribution():
    forget, retain = _clusters(
        np.random.default_rng(3), n_forget=300, n_retain=300, separated=False
    )
    assert knn_separability(forget, retain) == pytest.approx(0.5, abs=0.08)
    assert linear_probe_accuracy(forget, retain) == pytest.approx(0.5, abs=0.08)


def _naive_knn(forget, retain, k):
    labelled = [(p, 1) for p in forget] + [(p, 0) for p in retain]
    points = [(p / np.linalg.norm(p), label) for p, label in labelled]
    recalls = {0: [], 1: []}
    for i, (p, label) in enumerate(points):
        others = [(-float(p @ q), j, lab) for j, (q, lab) in enumerate(points) if j != i]
        nearest = sorted(others)[:k]
        votes = sum(lab for _, _, lab in nearest)
        guess = 1 if 2 * votes > k else 0 if 2 * votes < k else nearest[0][2]
        recalls[label].append(guess == label)
    return (np.mean(recalls[0]) + np.mean(recalls[1])) / 2


@pytest.mark.parametrize("k", [1, 4, 10])
def test_knn_matches_naive_loop(k):
    rng = np.random.default_rng(4)
    forget, retain = rng.standard_normal((9, 3)) + 0.5, rng.standard_normal((20, 3))
    assert knn_separability(forget, retain, k=k) == pytest.approx(_naive_knn(forget, retain, k))


def test_knn_is_balanced_for_unequal_sizes():
    # A lone forget point among many retain points: calling everything "retain" gets 0.5, not ~1.
    rng = np.random.default_rng(5)
    retain = rng.standard_normal((50, 4))
    forget = retain[:1] + 1e-3
    assert knn_separability(forget, retain, k=3) == pytest.approx(0.5, abs=0.05)


def test_probe_reduces_folds_for_tiny_sets():
    forget, retain = _clusters(np.random.default_rng(6), n_forget=2, n_retain=3)
    assert linear_probe_accuracy(forget, retain, folds=5) == 1.0


def test_silhouette_sign():
    forget, retain = _clusters(np.random.default_rng(7), separated=True)
    assert silhouette(forget, retain) > 0.5
    # Each point is nearly parallel to a point of the *other* set: negative silhouette.
    forget = [[1.0, 0.05], [-1.0, 0.05]]
    retain = [[1.0, -0.05], [-1.0, -0.05]]
    assert silhouette(forget, retain) < 0


def test_retain_feature_shift():
    rng = np.random.default_rng(8)
    before = rng.standard_normal((6, 4))
    assert retain_feature_shift(before, before) == pytest.approx(0.0, abs=1e-12)
    assert retain_feature_shift(before, 3.0 * before) == pytest.approx(0.0, abs=1e-12)
    assert retain_feature_shift(before, -before) == pytest.approx(2.0)
    assert retain_feature_shift([[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]) == (
        pytest.approx(0.5)
    )


# ---------------------------------------------------------------- projection basis


def test_projection_basis_is_deterministic_and_centred():
    rng = np.random.default_rng(9)
    features = rng.standard_normal((40, 8)) * np.arange(1, 9)
    basis = ProjectionBasis.fit(features)
    again = ProjectionBasis.fit(features[rng.permutation(40)])  # row order must not flip axes
    np.testing.assert_allclose(again.components, basis.components, atol=1e-10)
    coords = basis.transform(features)
    assert coords.shape == (40, 2)
    np.testing.assert_allclose(coords.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(basis.components @ basis.components.T, np.eye(2), atol=1e-12)
    for row in basis.components:
        assert row[np.argmax(np.abs(row))] > 0


def test_projection_basis_matches_sklearn_pca_up_to_sign():
    rng = np.random.default_rng(10)
    features = rng.standard_normal((30, 6)) @ rng.standard_normal((6, 6))
    basis = ProjectionBasis.fit(features)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    pca = PCA(n_components=2).fit(unit)
    np.testing.assert_allclose(np.abs(basis.components), np.abs(pca.components_), atol=1e-8)
    np.testing.assert_allclose(
        basis.explained_variance_ratio, pca.explained_variance_ratio_, atol=1e-10
    )


def test_projection_basis_round_trips_through_json():
    features = np.random.default_rng(11).standard_normal((12, 5))
    basis = ProjectionBasis.fit(features)
    restored = ProjectionBasis.from_dict(json.loads(json.dumps(basis.to_dict())))
    np.testing.assert_array_equal(restored.transform(features), basis.transform(features))


def test_projection_basis_validation():
    basis = ProjectionBasis.fit(np.random.default_rng(12).standard_normal((5, 4)))
    with pytest.raises(ValueError, match="dimension 3"):
        basis.transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="at least 2 row"):
        ProjectionBasis.fit(np.ones((1, 4)))
    with pytest.raises(ValueError, match="missing"):
        ProjectionBasis.from_dict({"mean": [0.0, 0.0]})
    with pytest.raises(ValueError, match="components must have shape"):
        ProjectionBasis(
            mean=np.zeros(3), components=np.zeros((2, 4)), explained_variance_ratio=np.zeros(2)
        )


# ---------------------------------------------------------------- text metrics


def test_words_lowercases_and_strips_punctuation():
    assert words("J.K. Rowling, the_author!") == ["j", "k", "rowling", "the", "author"]


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("The cat sat on the mat", "the cat on a mat", 4 / 5),  # LCS: the cat on mat
        ("J.K. Rowling", "j k rowling", 1.0),
        ("mat the", "the mat", 1 / 2),  # order matters: LCS is one word
        ("", "Paris", 0.0),
        ("She was born in Paris, France.", "Paris", 1.0),
        ("born in Lyon", "born in Paris", 2 / 3),
    ],
)
def test_rouge_l_recall_hand_computed(prediction, reference, expected):
    assert rouge_l_recall(prediction, reference) == pytest.approx(expected)


def test_lcs_matches_brute_force():
    @cache
    def reference(a, b):
        if not a or not b:
            return 0
        if a[0] == b[0]:
            return 1 + reference(a[1:], b[1:])
        return max(reference(a[1:], b), reference(a, b[1:]))

    rng = np.random.default_rng(13)
    for _ in range(50):
        a = tuple(rng.choice(list("abc"), size=rng.integers(0, 8)))
        b = tuple(rng.choice(list("abc"), size=rng.integers(0, 8)))
        assert lcs_length(list(a), list(b)) == reference(a, b)


def _naive_extraction_strength(hits):
    n = len(hits)
    for k in range(n + 1):  # k = n: the empty suffix, nothing extracted
        if all(hits[k:]):
            return 1 - k / n


@pytest.mark.parametrize(
    ("hits", "expected"),
    [
        ([True, True, True, True], 1.0),
        ([False, True, True, True], 0.75),
        ([True, False, True, True], 0.5),
        ([True, True, True, False], 0.0),
        ([False], 0.0),
        ([1, 1], 1.0),
    ],
)
def test_extraction_strength_hand_computed(hits, expected):
    assert extraction_strength(hits) == pytest.approx(expected)


def test_extraction_strength_matches_naive_loop():
    for hits in itertools.product([False, True], repeat=5):
        assert extraction_strength(hits) == pytest.approx(_naive_extraction_strength(hits))


def test_exact_memorization():
    assert exact_memorization([True, False, True, True]) == 0.75
    assert exact_memorization([False, False]) == 0.0


def test_answer_probability():
    assert answer_probability(3 * math.log(0.5), 3) == pytest.approx(0.5)
    np.testing.assert_allclose(answer_probability([math.log(0.25), 0.0], [2, 5]), [0.5, 1.0])
    with pytest.raises(ValueError, match="positive integers"):
        answer_probability(-1.0, 0)
    with pytest.raises(ValueError, match="<= 0"):
        answer_probability(0.5, 2)


# ---------------------------------------------------------------- privacy metrics


def test_mia_auc_hand_computed_with_tie():
    # Pairs: (3,1) (3,2) (2,1) are wins, (2,2) is a tie worth half: 3.5 / 4.
    assert mia_auc([3.0, 2.0], [1.0, 2.0]) == pytest.approx(0.875)
    assert mia_auc([5.0], [1.0, 2.0]) == 1.0
    assert mia_auc([0.0], [1.0, 2.0]) == 0.0


def test_mia_auc_matches_pairwise_count_and_sklearn():
    rng = np.random.default_rng(14)
    members = rng.integers(0, 6, size=23).astype(float)  # small integers: many ties
    nonmembers = rng.integers(0, 5, size=31).astype(float)
    pairwise = np.mean(
        [1.0 if m > n else 0.5 if m == n else 0.0 for m in members for n in nonmembers]
    )
    assert mia_auc(members, nonmembers) == pytest.approx(pairwise)
    labels = np.r_[np.ones(23), np.zeros(31)]
    assert mia_auc(members, nonmembers) == pytest.approx(
        roc_auc_score(labels, np.r_[members, nonmembers])
    )


def test_min_k_percent_score():
    logprobs = [-1.0, -5.0, -3.0, -2.0, -4.0]
    assert min_k_percent_score(logprobs, k=0.4) == pytest.approx(-4.5)  # lowest two
    assert min_k_percent_score(logprobs, k=0.1) == pytest.approx(-5.0)  # at least one token
    assert min_k_percent_score(logprobs, k=1.0) == pytest.approx(-3.0)
    # 0.29 * 100 is 28.999... in floating point; the score must still use 29 tokens (-99..-71).
    assert min_k_percent_score(-np.arange(100.0), k=0.29) == pytest.approx(-85.0)
    with pytest.raises(ValueError, match="k must be"):
        min_k_percent_score(logprobs, k=0.0)


def test_truth_ratio_hand_computed():
    # Item 0: paraphrased -1, perturbed -2 and -3. Item 1 has a single perturbed answer.
    ratios = truth_ratio([-1.0, -0.5], [[-2.0, -3.0], [-0.5]])
    np.testing.assert_allclose(ratios, [math.exp(-1.5), 1.0])
    arithmetic = truth_ratio([-1.0], [[-2.0, -3.0]], mean="arithmetic")
    np.testing.assert_allclose(arithmetic, [(math.exp(-1.0) + math.exp(-2.0)) / 2])
    with pytest.raises(ValueError, match="one perturbed list per item"):
        truth_ratio([-1.0, -2.0], [[-1.0]])
    with pytest.raises(ValueError, match="mean must be"):
        truth_ratio([-1.0], [[-1.0]], mean="harmonic")


def test_forget_quality():
    rng = np.random.default_rng(15)
    gold = rng.uniform(0.2, 1.0, size=40)
    assert forget_quality(gold, gold) == pytest.approx(1.0)
    unlearned = rng.uniform(0.0, 0.1, size=40)
    assert forget_quality(unlearned, gold) < 1e-6
    assert forget_quality(unlearned, gold) == pytest.approx(ks_2samp(unlearned, gold).pvalue)
    # TOFU's code stores the reciprocal ratio; a KS test cannot tell the difference.
    assert forget_quality(1 / unlearned, 1 / gold) == pytest.approx(forget_quality(unlearned, gold))


@pytest.mark.parametrize(
    ("unlearned", "gold", "expected"),
    [
        (0.5, 0.5, 0.0),  # as private as the retrained model
        (1.0, 0.5, -100.0),  # forget set fully detectable: MUSE's "target model" end
        (0.9, 0.5, -80.0),  # under-unlearned
        (0.3, 0.5, 40.0),  # over-unlearned
        (0.6, 0.4, -100 / 3),  # MUSE form: ((1-.6) - (1-.4)) / (1-.4) * 100
    ],
)
def test_privleak_hand_computed(unlearned, gold, expected):
    assert privleak(unlearned, gold) == pytest.approx(expected)


def test_privleak_validation():
    with pytest.raises(ValueError, match="undefined"):
        privleak(0.5, 1.0)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        privleak(1.2, 0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        privleak(0.5, float("nan"))


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    "metric",
    [entanglement_score, knn_separability, linear_probe_accuracy, silhouette],
)
def test_feature_metrics_reject_empty_and_mismatched_inputs(metric):
    good = np.random.default_rng(16).standard_normal((4, 3))
    with pytest.raises(ValueError, match="forget features needs at least"):
        metric(np.empty((0, 3)), good)
    with pytest.raises(ValueError, match="differ in dimension: 3 vs 5"):
        metric(good, np.ones((4, 5)))
    with pytest.raises(ValueError, match="must be a 2-D"):
        metric(good[0], good)
    with pytest.raises(ValueError, match="NaN"):
        metric(good, np.full((4, 3), np.nan))


def test_other_validation_messages():
    with pytest.raises(ValueError, match="same shape"):
        retain_feature_shift(np.ones((3, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="at least 2 row"):
        linear_probe_accuracy(np.ones((1, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="k must be"):
        knn_separability(np.ones((3, 2)), np.ones((3, 2)), k=0)
    with pytest.raises(ValueError, match="member_scores needs at least 1"):
        mia_auc([], [1.0])
    with pytest.raises(ValueError, match="token_hits"):
        extraction_strength([])
    with pytest.raises(ValueError, match="token_hits"):
        exact_memorization([0, 2])
    with pytest.raises(ValueError, match="reference has no word tokens"):
        rouge_l_recall("anything", "?!")
    with pytest.raises(ValueError, match="gold_truth_ratios needs at least 1"):
        forget_quality([1.0], [])
