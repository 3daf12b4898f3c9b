"""Does the model know the user's own text before unlearning? A run on text the model never
knew "forgets" it anyway (its answers were wrong before and stay wrong) and costs retain answers
for nothing: the embedded model given five new facts, and SmolLM2 given a passage, knew neither
(answer probability 3e-6 and 5e-3), and SmolLM2 lost 2-3 of 24 retain answers (issue 32).

- question/answer items: the original model's greedy answers; it knows the text when it
  answers at least one question right;
- passages: the original model's per-token loss of them against its loss of text it cannot
  know: a few passages written for this project (invented people and places, in plain prose).
  A passage it knows costs it clearly less (`KNOWN_MARGIN_NATS`) than that never-seen level;
  text it does not know costs about as much, or more.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from clreg_core.data.items import Item, UnlearningTask
from clreg_core.engine.evaluation import Measurer, answer_hits, qa_only, sample_items

MAX_ITEMS = 32  # a side: a quick look, before any training
# Plain prose no model was trained on (written for this project): the never-seen level.
NEVER_SEEN = (
    "The ferry to Quellin Island leaves twice a week from the old stone pier, and its captain, "
    "a quiet woman named Odalie Strand, has kept the same timetable for nineteen years.",
    "In the spring of 1887 the village of Harrowdeep planted a row of walnut trees along the "
    "mill road; the last of them fell in a storm the year the new bridge opened.",
    "Bram Tillery repaired clocks in a narrow shop on Cinder Lane and was known for refusing "
    "any clock that had been dropped, saying that a fall changes the way a clock keeps time.",
)
# A passage the model knows costs it clearly less than never-seen prose (nats a token, measured
# with these passages): SmolLM2-135M, the Declaration's and the Gettysburg Address's openings
# 2.1 vs 5.0, an invented passage 4.1, the embedded world's templated biographies 3.9 (it never
# saw them: regular text is cheaper without being known, hence a margin this wide); the
# embedded model, its own world's biographies 3.4 vs 12.3, an invented passage 12.8.
KNOWN_MARGIN_NATS = 1.5


def _losses(measurer: Measurer, items: list[Item]) -> np.ndarray:
    passed = measurer.forced(measurer.encode(items), [], adapter=False)
    return -np.asarray(passed.mean_token_logp, dtype=float)


def what_it_knows(measurer: Measurer, task: UnlearningTask, seed: int = 0) -> dict:
    """What the original model knows of the forget set: `known` (bool), the measures behind it
    and a sentence for people (`summary`)."""
    forget = sample_items(task.forget, MAX_ITEMS, seed)
    qa = qa_only(forget)
    passages = [i for i in forget if i.kind == "passage"]
    found: dict = {"known": False}
    said = []
    if qa:
        answers = measurer.answers(qa, adapter=False)
        right = int(sum(answer_hits(qa, answers)))
        found.update(qa_right=right, qa_items=len(qa))
        found["known"] |= right > 0
        said.append(f"it answers {right} of {len(qa)} of your questions right")
    if passages:
        never_seen = [Item(kind="passage", text=t) for t in NEVER_SEEN]
        level = float(np.median(_losses(measurer, never_seen)))
        loss = float(np.median(_losses(measurer, [replace(p, meta={}) for p in passages])))
        found.update(passage_loss=round(loss, 3), never_seen_level=round(level, 3))
        known = bool(loss <= level - KNOWN_MARGIN_NATS)
        found["known"] |= known
        than = "well below" if known else "as much as"
        said.append(
            f"your text costs it {loss:.1f} nats a token, {than} prose it cannot have seen "
            f"({level:.1f})"
        )
    found["summary"] = "; ".join(said)
    return found
