"""Fluency of generated answers: is the model still talking, or repeating itself?

Unlearning done well leaves fluent, wrong answers; a model pushed too far answers every forget
question with the same word ("Kousswick Kousswick Kousswick …"). Forget accuracy cannot tell
the two apart, so these measures sit beside it (method.md, "Retrain parity").

- `is_degenerate(answer)`: a word said three or more times in a row, a loop of a few words
  (fewer than half of the answer's word pairs are distinct), or a content phrase said again a
  few words on ("… favourite colour isyvton's favourite colour is"): an answer restarting itself;
- `degenerate_share(answers)`: the share of answers that are degenerate;
- `same_answer_share(answers)`: across answers, the share that end in the single most common
  last word: a model pushed too far can also answer every forget question, whatever it asks,
  with one word ("… works as coral.", "… favourite colour is coral."); each answer alone reads
  fluently, so only the set shows it;
- `distinct_n(answer, n)`: distinct n-grams / n-grams within one answer (1.0 = no repeats);
  `mean_distinct_n(answers, n)` averages it over the answers that have an n-gram.
"""

from __future__ import annotations

import re

import numpy as np

REPEAT_RUN = 3  # a word this many times in a row is a stutter no fluent answer has
LOOP_DISTINCT_2 = 0.5  # below this share of distinct word pairs, an answer circles
LOOP_MIN_PAIRS = 6  # shorter answers have too few pairs to call a loop
# A word pair said twice counts as a restart when both its words have this many letters:
# "favourite colour" does; "of the", "road in" (which fluent prose repeats) do not.
CONTENT_WORD_LETTERS = 4
# ... and when it comes back within this many words: a restart or a loop. Further apart it is
# prose naming its subject again. SmolLM2-135M answered "The chemical element with the symbol O
# is a rare earth element, which is a chemical element with the atomic number 55." before any
# unlearning (14 words apart; without a window 30% of its answers counted as degenerate) and
# "The lightest chemical element is element 113, which is a chemical element with a symbol of
# 113." after (8 apart). The embedded model's restarts come back 3 words on, and a loop such as
# "a chemical element that is a chemical element that is" 5 on.
RESTART_WINDOW = 5


def words(text: str) -> list[str]:
    """Lower-cased words, a possessive folded into its word ("Kousswick's" -> "kousswick"), so
    "Kousswick's Kousswick Kousswick" is the same name three times over."""
    return re.findall(r"[^\W_]+", re.sub(r"['’]s\b", "", text.lower()))


def longest_run(tokens: list[str]) -> int:
    """The longest stretch of one token repeated back to back (0 for no tokens)."""
    best = run = 0
    previous = None
    for token in tokens:
        run = run + 1 if token == previous else 1
        best = max(best, run)
        previous = token
    return best


def distinct_n(answer: str, n: int = 2) -> float | None:
    """Distinct n-grams over all n-grams of one answer's words; None when it has no n-gram."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    tokens = words(answer)
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def repeats_a_phrase(tokens: list[str]) -> bool:
    """A pair of content words said again within RESTART_WINDOW words (CONTENT_WORD_LETTERS)."""
    last_seen: dict[tuple[str, str], int] = {}
    for position, pair in enumerate(zip(tokens, tokens[1:], strict=False)):
        if min(len(w) for w in pair) >= CONTENT_WORD_LETTERS:
            if position - last_seen.get(pair, -RESTART_WINDOW - 1) <= RESTART_WINDOW:
                return True
            last_seen[pair] = position
    return False


def is_degenerate(answer: str) -> bool:
    tokens = words(answer)
    if longest_run(tokens) >= REPEAT_RUN or repeats_a_phrase(tokens):
        return True
    pairs = len(tokens) - 1
    return pairs >= LOOP_MIN_PAIRS and distinct_n(answer, 2) < LOOP_DISTINCT_2


def degenerate_share(answers: list[str]) -> float:
    """The share of answers that stutter or loop; NaN when there are no answers."""
    if not answers:
        return float("nan")
    return float(np.mean([is_degenerate(a) for a in answers]))


def mean_distinct_n(answers: list[str], n: int = 2) -> float:
    """Mean per-answer distinct-n over the answers long enough to have an n-gram (NaN if none)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    values = [d for d in (distinct_n(a, n) for a in answers) if d is not None]
    return float(np.mean(values)) if values else float("nan")


def same_answer_share(answers: list[str]) -> float:
    """The share of answers whose last word is the most common last word (NaN for no answers).
    A world answer ends in its value ("… born in Corvass."), so this is the share given the
    commonest value. Guesses about strangers, or a gold model's answers, spread over many
    values: 0.06-0.09 on 64 world questions; a collapsed model reaches 0.4 and more."""
    if not answers:
        return float("nan")
    last = [(words(a) or [""])[-1] for a in answers]
    return max(last.count(w) for w in set(last)) / len(last)
