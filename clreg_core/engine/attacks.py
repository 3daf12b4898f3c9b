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

import torch

from clreg_core.data.items import Item
from clreg_core.engine import losses
from clreg_core.engine.batching import collate
from clreg_core.engine.evaluation import Measurer, answer_scores, qa_only
from clreg_core.engine.optimizer import adamw


@dataclass(frozen=True)
class RelearnSettings:
    steps: int = 20  # "a few fine-tuning steps"
    learning_rate: float = 3e-3  # plain AdamW on the LoRA weights
    batch_size: int = 16
    test_items: int = 100  # held-out forget items scored before and after


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
    model = measurer.model
    shown, held_out = split_facts(qa_only(forget), seed)
    if not shown or not held_out:
        return {}
    rng = random.Random(seed)
    test = (
        held_out
        if len(held_out) <= settings.test_items
        else rng.sample(held_out, settings.test_items)
    )
    before = answer_scores(test, measurer.answers(test, adapter=True))["accuracy"]

    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.detach().clone() for p in params]
    encoded = measurer.encode(shown)
    optimizer = adamw(params, settings.learning_rate)
    was_training = model.training
    model.train()
    try:
        for _ in range(settings.steps):
            batch = collate(
                rng.sample(encoded, min(settings.batch_size, len(encoded))),
                measurer.tokenizer.pad_token_id,
            )
            batch = {k: v.to(measurer.device) for k, v in batch.items()}
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
            loss = losses.nll(losses.sequence_logprob(logits, batch["labels"]))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        after = answer_scores(test, measurer.answers(test, adapter=True))["accuracy"]
    finally:
        with torch.no_grad():
            for param, value in zip(params, saved, strict=True):
                param.copy_(value)
        model.train(was_training)
    return {
        "relearn_heldout_before": before,
        "relearn_heldout_after": after,
        "relearn_gain": after - before,
        "relearn_steps": settings.steps,
        "relearn_test_items": len(test),
    }
