"""Answer-level forgetting metrics: ROUGE-L recall, extraction strength, exact memorisation, and
the length-normalised answer probability.

The model-side work (greedy decoding, teacher-forced argmax, summed log-probs) happens elsewhere;
these functions only score what it produced, so they can be checked by hand.
"""

from __future__ import annotations

import re

import numpy as np

from ._checks import as_hits

# Summed float32 log-softmax values can overshoot 0 by rounding; beyond this it is a caller's bug.
_LOGP_ROUNDING = 1e-4


def words(text: str) -> list[str]:
    """Lower-cased word tokens with punctuation removed ("J.K. Rowling!" -> ["j", "k", "rowling"]).

    Punctuation (and "_") becomes a space rather than vanishing, so "J.K." splits like "J. K.", as
    in `clreg_core.engine.generation.normalize_answer`. Unicode letters and digits are kept.
    """
    return re.sub(r"[^\w\s]|_", " ", text.lower()).split()


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists (O(len(a) * len(b)) DP)."""
    if len(a) < len(b):
        a, b = b, a  # keep the DP row as short as possible
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            if token == other:
                current.append(previous[j - 1] + 1)
            else:
                current.append(max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l_recall(prediction: str, reference: str) -> float:
    """ROUGE-L recall = LCS(prediction, reference) / len(reference), on `words` tokens.

    The score TOFU and MUSE report for QA ("how much of the gold answer did the model say").
    Unlike their `rouge_score` setup we do not stem, so "paints" and "painted" do not match; our
    answers are short facts where this rarely matters. An empty prediction scores 0; an empty
    reference (nothing but punctuation) has no defined recall and raises ValueError.
    """
    ref = words(reference)
    if not ref:
        raise ValueError(f"reference has no word tokens: {reference!r}")
    return lcs_length(words(prediction), ref) / len(ref)


def extraction_strength(token_hits) -> float:
    """Extraction strength (Carlini et al. 2021 via open-unlearning, Dorna et al. 2025).

    `token_hits[t]` says whether the model's argmax at answer position t, fed the true prefix,
    equals the answer token. ES = 1 - k*/|y| with k* the shortest prefix length after which every
    remaining token is predicted correctly: 1.0 if all are right, 0.0 if even the last one is wrong
    (k* = |y|: no suffix can be extracted). open-unlearning's loop stops at k = |y| - 1 and so gives
    1/|y| instead of 0 in that last case; we follow the written definition.
    """
    hits = as_hits(token_hits)
    misses = np.flatnonzero(~hits)
    shortest_prefix = 0 if misses.size == 0 else int(misses[-1]) + 1
    return 1.0 - shortest_prefix / hits.size


def exact_memorization(token_hits) -> float:
    """Exact memorisation (Tirumala et al. 2022; open-unlearning): the fraction of answer tokens
    whose teacher-forced argmax prediction equals the answer token."""
    return float(np.mean(as_hits(token_hits)))


def answer_probability(sum_logprob, num_tokens):
    """Length-normalised answer probability exp(log P(y|x) / |y|) (TOFU's "Probability").

    The geometric mean per-token probability, so long and short answers are comparable. Accepts
    scalars (returns a float) or matching arrays (returns an array). Log-probs must be <= 0 (a
    float32 rounding excess up to 1e-4 is clipped to 0) and token counts positive integers.
    """
    logp = np.asarray(sum_logprob, dtype=np.float64)
    count = np.asarray(num_tokens, dtype=np.float64)
    if logp.shape != count.shape:
        raise ValueError(
            "sum_logprob and num_tokens must have the same shape, "
            f"got {logp.shape} vs {count.shape}"
        )
    if np.any(~np.isfinite(logp)) or np.any(logp > _LOGP_ROUNDING):
        raise ValueError("sum_logprob must be finite log-probabilities (<= 0)")
    logp = np.minimum(logp, 0.0)
    if np.any(count <= 0) or np.any(count != np.round(count)):
        raise ValueError("num_tokens must be positive integers")
    probability = np.exp(logp / count)
    return float(probability) if probability.ndim == 0 else probability
