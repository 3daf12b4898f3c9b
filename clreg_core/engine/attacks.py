"""Is it really gone? A relearning attack on an unlearned model.

Unlearning that only hides knowledge tends to give it back after a little fine-tuning on related
data. The attack splits the forget set's facts in two (all phrasings of a fact on the same side),
fine-tunes the unlearned model on one half for a few steps with the plain answer likelihood, and
measures greedy-answer accuracy on the other half before and after. Accuracy that climbs back on
facts the attacker never showed means the knowledge was still there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clreg_core.data.items import Item
from clreg_core.engine.evaluation import Measurer


@dataclass(frozen=True)
class RelearnSettings:
    steps: int = 20  # "a few fine-tuning steps"
    learning_rate: float = 3e-3  # plain AdamW on the LoRA weights
    batch_size: int = 16
    test_items: int = 100  # held-out forget items scored before and after
    # Recall is measured before the attack and after every `recall_every` steps (and the last):
    # greedy answers to the held-out facts are most of the check's cost, and every second step
    # still shows the climb (a default run's own-LoRA recall goes 0.03 -> 0.6 in 3 steps).
    recall_every: int = 2


def recall_steps(settings: RelearnSettings) -> list[int]:
    """The attack steps after which recall is measured (0: before it)."""
    every = max(1, settings.recall_every)
    return [0, *(s for s in range(1, settings.steps + 1) if s % every == 0 or s == settings.steps)]


def fact_key(item: Item) -> tuple:
    """Items about the same fact (person and attribute) share a key; other items stand alone."""
    meta = item.meta or {}
    if "person" in meta and "attribute" in meta:
        return (meta["person"], meta["attribute"])
    return (item.question,)


def split_facts(items: list[Item], seed: int) -> tuple[list[Item], list[Item]]:
    """Half the facts for the attacker to train on, the other half to test: no fact on both."""
    keys = sorted({fact_key(i) for i in items})
    random.Random(seed).shuffle(keys)
    shown = set(keys[: len(keys) // 2])
    return [i for i in items if fact_key(i) in shown], [
        i for i in items if fact_key(i) not in shown
    ]


def relearning_attack(
    measurer: Measurer, forget: list[Item], seed: int, settings: RelearnSettings = RelearnSettings()
) -> dict[str, float]:
    """Accuracy on held-out forget facts before and after fine-tuning on the other facts.

    Trains the model's trainable (LoRA) weights in place and puts them back afterwards, so the
    unlearned model is unchanged when this returns."""
    from clreg_core.engine.relearning import recovery_curve, split_for_check

    split = split_for_check(forget, seed, settings.test_items)
    if not split.shown or not split.test:
        return {}
    before, after = recovery_curve(measurer, split, settings, seed, each_step=False)
    return {
        "relearn_heldout_before": before,
        "relearn_heldout_after": after,
        "relearn_gain": after - before,
        "relearn_steps": settings.steps,
        "relearn_test_items": len(split.test),
    }
