"""Membership-inference and gold-model comparisons: MIA AUC, Min-K% Prob, TOFU's truth ratio and
Forget Quality, MUSE's PrivLeak.

Convention used throughout: an MIA score is higher for items that look like training members, and
`mia_auc` is the probability that a random member outscores a random non-member. For the LOSS attack
pass -loss; `min_k_percent_score` already has the right orientation.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import ks_2samp, rankdata

from ._checks import as_vector


def mia_auc(member_scores, nonmember_scores) -> float:
    """ROC AUC of separating members (e.g. forget items) from non-members (a never-seen holdout).

    Computed as the Mann-Whitney statistic: P(member score > non-member score) + 0.5 P(tie).
    1.0 = every member is detectable, 0.5 = indistinguishable (what a model that never saw the
    forget set should give), below 0.5 = the forget items now look *less* familiar than unseen text.
    """
    members = as_vector("member_scores", member_scores)
    nonmembers = as_vector("nonmember_scores", nonmember_scores)
    # Average ranks give tied pairs exactly half a win, matching the pairwise definition.
    ranks = rankdata(np.concatenate([members, nonmembers]))
    n_m, n_n = members.size, nonmembers.size
    wins = ranks[:n_m].sum() - n_m * (n_m + 1) / 2.0
    return float(wins / (n_m * n_n))


def min_k_percent_score(token_logprobs, k: float = 0.2) -> float:
    """Min-K% Prob score (Shi et al. 2024, "Detecting Pretraining Data from LLMs").

    The mean of the lowest fraction `k` of a sequence's token log-probs, over floor(k * n) tokens
    but at least one. Members have fewer very surprising tokens, so a higher score means "more
    likely a member". (open-unlearning stores the negation; MUSE uses k = 0.4.) A 1e-9 slack in the
    floor keeps float products such as 0.29 * 100 from losing a token.
    """
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must be in (0, 1], got {k!r}")
    logprobs = as_vector("token_logprobs", token_logprobs)
    count = max(1, math.floor(k * logprobs.size + 1e-9))
    return float(np.mean(np.sort(logprobs)[:count]))


def truth_ratio(paraphrased_logp_norm, perturbed_logp_norm, mean: str = "geometric") -> np.ndarray:
    """TOFU's truth ratio per item (Maini et al. 2024): R = P(perturbed) / P(paraphrased).

    Inputs are length-normalised log-probs, log P(a|q) / |a|: one value per item for the paraphrased
    correct answer, and for each item a sequence of values for its perturbed (wrong) answers. R near
    1 means the model no longer prefers the true answer; R << 1 means it still knows it.

    `mean` says how the perturbed answers are averaged:
      - "geometric" (default): exp(mean of their log-probs). This is what TOFU's released code and
        open-unlearning compute, so Forget Quality matches their published numbers.
      - "arithmetic": mean of their normalised probabilities, as the TOFU paper writes the formula.
    TOFU's code reports the reciprocal (paraphrased over perturbed); Forget Quality is a KS test and
    is unchanged by that flip.
    """
    if mean not in ("geometric", "arithmetic"):
        raise ValueError(f"mean must be 'geometric' or 'arithmetic', got {mean!r}")
    paraphrased = as_vector("paraphrased_logp_norm", paraphrased_logp_norm)
    if len(perturbed_logp_norm) != paraphrased.size:
        raise ValueError(
            f"need one perturbed list per item: {paraphrased.size} paraphrased values but "
            f"{len(perturbed_logp_norm)} perturbed lists"
        )
    ratios = np.empty(paraphrased.size)
    # Items may have different numbers of perturbed answers, hence the loop over a ragged input.
    for i, (para, perturbed) in enumerate(zip(paraphrased, perturbed_logp_norm, strict=True)):
        pert = as_vector(f"perturbed_logp_norm[{i}]", perturbed)
        if mean == "geometric":
            ratios[i] = np.exp(np.mean(pert) - para)
        else:
            ratios[i] = np.mean(np.exp(pert - para))
    return ratios


def forget_quality(unlearned_truth_ratios, gold_truth_ratios) -> float:
    """TOFU's Forget Quality: the two-sample KS-test p-value between the truth-ratio distributions
    of the unlearned model and the gold (retrained without the forget set) model on the forget set.

    High (e.g. > 0.05) = statistically indistinguishable from never having trained on the forget
    set.
    Small forget sets give weak tests: with 10 items even a good model rarely reaches p near 1.
    """
    unlearned = as_vector("unlearned_truth_ratios", unlearned_truth_ratios)
    gold = as_vector("gold_truth_ratios", gold_truth_ratios)
    return float(ks_2samp(unlearned, gold).pvalue)


def privleak(unlearned_auc: float, gold_auc: float) -> float:
    """MUSE's PrivLeak (Shi et al. 2024): the relative AUC gap to the gold (retrained) model, in %.

    MUSE's AUC runs the other way from ours (it is high when the holdout looks *more* like training
    data than the forget set, i.e. MUSE_AUC = 1 - mia_auc), and PrivLeak is defined on MUSE's AUC:

        PrivLeak = (MUSE_AUC_unlearned - MUSE_AUC_gold) / MUSE_AUC_gold * 100
                 = (gold_auc - unlearned_auc) / (1 - gold_auc) * 100     with our mia_auc values.

    open-unlearning converts the same way, so values match MUSE's tables: ~0 is good; strongly
    negative = under-unlearned (forget items still detectable; the original model is near -100);
    positive = over-unlearned (forget items now look *less* familiar than unseen text, itself a
    leak). Pass both AUCs from `mia_auc` with the same attack and holdout set.
    """
    unlearned, gold = _auc("unlearned_auc", unlearned_auc), _auc("gold_auc", gold_auc)
    if gold == 1.0:
        raise ValueError(
            "gold_auc is 1.0 (MUSE-orientation AUC 0): PrivLeak is undefined relative to it"
        )
    return (gold - unlearned) / (1.0 - gold) * 100.0


def _auc(name: str, value) -> float:
    try:
        auc = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not 0.0 <= auc <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be an AUC in [0, 1], got {value!r}")
    return auc
