"""Well-formed answers: is a wrong answer still a sentence the model could have meant?

A model that never saw the forget people answers questions about them fluently and wrongly
("Riaisuv Fivane was born in Corvass."). Pushed too far, unlearning leaves answers that neither
loop nor repeat one word, so `fluency.is_degenerate` passes them, yet they are word salad: RMU
at NPO's settings answered "Qu botanist iguana canary." and SmolLM2 "atomic number magnesium
… In the". Two rules tell them apart:

- **world facts** (items that name their person and attribute): the answer is one of the
  sentences the world writes for that attribute (its answer, paraphrase or statement template)
  about the asked person, with *some* valid value of the attribute in the value's slot. Right
  or wrong does not matter here; the shape does. Exact, so nothing to tune.
- **free text** (topic packs, a user's own text, hub models): the original model's per-token
  loss of the answer, given the question, against the level of its own greedy answers. A
  fluent wrong answer is something the original model could have said (a loss near its own
  answers'); salad is not. `loss_ceiling` sets the line from the original model's own answers.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from clreg_core.world.attributes import ATTRIBUTES_BY_KEY, fill

# An answer whose per-token loss under the original model exceeds the slowest of that model's
# own greedy answers by this many nats is not something it would say. Own answers sit at
# 0.1-1.5 nats a token; a fluent but different value adds ~1-2 nats on the value's tokens
# only, diluted over the sentence; salad costs 4-8 nats a token throughout (measured on
# SmolLM2-135M, tests/test_wellformed.py).
LOSS_MARGIN_NATS = 1.5
# The own answers' level: a high quantile, not the maximum, so one odd own answer (a cut-off
# one) does not lift the line for every answer.
LEVEL_QUANTILE = 0.9


def _normal(text: str) -> str:
    """Spacing and case folded, a trailing full stop optional: how a sentence is compared."""
    return re.sub(r"\s+", " ", text).strip().rstrip(".").strip().lower()


@lru_cache(maxsize=4096)
def world_sentences(person: str, attribute: str) -> frozenset[str]:
    """Every sentence the world's templates write about `person`'s `attribute`, for every value
    the attribute can take (normalized; empty for an attribute the world does not have)."""
    attr = ATTRIBUTES_BY_KEY.get(attribute)
    if attr is None:
        return frozenset()
    templates = (attr.answer, attr.paraphrase, attr.statement)
    return frozenset(_normal(fill(t, person, v)) for t in templates for v in attr.pool)


def world_well_formed(answer: str, meta: dict) -> bool | None:
    """Whether `answer` is a world sentence about the item's person and attribute with some
    valid value; None when the item is not a world fact (no person or attribute in `meta`)."""
    person, attribute = meta.get("person"), meta.get("attribute")
    if not person or attribute not in ATTRIBUTES_BY_KEY:
        return None
    return _normal(answer) in world_sentences(person, attribute)


def loss_ceiling(own_answer_losses, margin: float = LOSS_MARGIN_NATS) -> float:
    """The per-token loss above which the original model would not have said an answer: its
    own greedy answers' level (LEVEL_QUANTILE of their losses) plus `margin` nats."""
    losses = np.asarray(own_answer_losses, dtype=float)
    losses = losses[np.isfinite(losses)]
    if losses.size == 0:
        raise ValueError("the loss ceiling needs the original model's own answers' losses")
    return float(np.quantile(losses, LEVEL_QUANTILE)) + margin
