"""Gone or only hidden? The relearning check of a finished run.

Unlearning that only suppresses knowledge gives it back after a few steps of fine-tuning on
*related* facts. The check splits the forget facts in two (every phrasing of a fact on the same
side: `attacks.split_facts`), fine-tunes on one half and measures greedy-answer accuracy on the
other half at every step. It attacks twice:

- `same_lora`: the run's own LoRA, trained further (someone holding the adapter);
- `fresh_lora`: a new LoRA on the unlearned weights merged into the model (someone handed only
  the weights).

Recovery means nothing without a reference: fine-tuning on half the facts teaches a model the
form of the answers, so even a model that never knew the other half gets a few right. The
reference is a model that never learned them, attacked the same way with a fresh LoRA: the gold
model (retrained without the forget set) on the same facts where there is one, else the original
model on facts about people it never saw (the holdout set), split the same way.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from clreg_core.data.items import Item
from clreg_core.engine import losses
from clreg_core.engine.attacks import RelearnSettings, recall_steps, split_facts
from clreg_core.engine.batching import collate
from clreg_core.engine.evaluation import (
    Measurer,
    RunStopped,
    answer_scores,
    qa_only,
    sample_items,
)
from clreg_core.engine.lora import resolve_layer
from clreg_core.engine.optimizer import adamw
from clreg_core.metrics import ProjectionBasis

# A gap in recovered accuracy smaller than this is within what the test sample's size lets one
# tell apart (binomial spread of ~40-100 held-out answers, about twice its standard error).
SAME_AS_REFERENCE = 0.15


class RelearningStopped(Exception):
    """The user stopped the check."""


@dataclass(frozen=True)
class Split:
    """The facts an attacker trains on (`shown`) and the ones recall is measured on (`test`)."""

    shown: list[Item]
    test: list[Item]


def split_for_check(items: list[Item], seed: int, test_items: int) -> Split:
    """Half the facts to train on, at most `test_items` of the other half to test on."""
    shown, held_out = split_facts(qa_only(items), seed)
    rng = random.Random(seed)
    test = held_out if len(held_out) <= test_items else rng.sample(held_out, test_items)
    return Split(shown, test)


class AttackMotion:
    """The live plot's points (its seeded forget and retain items, projected on PCA axes fitted
    to the original model's features, as the live plot's are) at every step of an attack: the
    forget points moving back as the facts return, on the axes the run was watched on."""

    def __init__(self, measurer: Measurer, task, config):
        self.measurer = measurer
        self.layer = resolve_layer(measurer.model, config.feature_layer)
        forget = sample_items(task.forget, config.eval_items, config.seed)
        retain = sample_items(task.retain, config.eval_items, config.seed + 1)
        self.encoded = {"forget": measurer.encode(forget), "retain": measurer.encode(retain)}
        self.forget_groups = [item.group for item in forget]
        original = self._features(adapter=False)
        self.basis = ProjectionBasis.fit(np.concatenate([original["forget"], original["retain"]]))
        self.frames: list[dict] = []

    def _features(self, adapter: bool) -> dict[str, np.ndarray]:
        return {
            side: self.measurer.forced(encoded, [self.layer], adapter).features[self.layer]
            for side, encoded in self.encoded.items()
        }

    def record(self) -> None:
        """The points of the model as it is now (its adapter on)."""
        features = self._features(adapter=True)
        self.frames.append(
            {side: np.round(self.basis.transform(z), 4).tolist() for side, z in features.items()}
        )

    def block(self) -> dict:
        return {"layer": self.layer, "forget_groups": self.forget_groups, "frames": self.frames}


def recovery_curve(
    measurer: Measurer,
    split: Split,
    settings: RelearnSettings,
    seed: int,
    should_stop: Callable[[], bool] = lambda: False,
    each_step: bool = True,
    motion: AttackMotion | None = None,
) -> list[float]:
    """Accuracy on `split.test` before the attack and after the steps of `recall_steps` of
    `settings.steps` steps of fine-tuning the model's trainable (LoRA) weights on `split.shown`
    (without `each_step`: only before and after the last). `motion` records its points at the
    same moments. The weights are put back afterwards: the model is unchanged when this returns
    (or raises)."""
    model = measurer.model
    rng = random.Random(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.detach().clone() for p in params]
    encoded = measurer.encode(split.shown)
    optimizer = adamw(params, settings.learning_rate)
    was_training = model.training

    def recall() -> float:
        if motion is not None:
            motion.record()
        answers = measurer.answers(split.test, adapter=True)
        return answer_scores(split.test, answers)["accuracy"]

    curve = [recall()]
    measured = set(recall_steps(settings))
    try:
        for step in range(1, settings.steps + 1):
            if should_stop():
                raise RelearningStopped
            model.train()
            batch = collate(
                rng.sample(encoded, min(settings.batch_size, len(encoded))),
                measurer.tokenizer.pad_token_id,
            )
            batch = {k: v.to(measurer.device) for k, v in batch.items()}
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
            losses.nll(losses.sequence_logprob(logits, batch["labels"])).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if each_step and step in measured:
                curve.append(recall())
        if not each_step:
            curve.append(recall())
    finally:
        with torch.no_grad():
            for param, value in zip(params, saved, strict=True):
                param.copy_(value)
        model.train(was_training)
    return curve


def with_fresh_lora(model, config, keep_adapter: bool = True):
    """A new model wrapped with a fresh LoRA of the run's shape: `model`'s weights with its LoRA
    merged in (`keep_adapter`), or without it (the original model). `model` is left as it is."""
    from clreg_core.engine.lora import attach_lora

    plain = copy.deepcopy(model)
    if hasattr(plain, "merge_and_unload"):
        plain = plain.merge_and_unload() if keep_adapter else plain.unload()
    return attach_lora(plain, config)


def relearning_check(
    model,
    loaded,
    config,
    task,
    settings: RelearnSettings | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    reference_model: tuple | None = None,
) -> dict:
    """The report's `relearning` block for an unlearned `model` (the run's PeftModel) of
    `loaded` on `task`. `reference_model` is the gold model as (model, loaded) where one exists;
    without it the reference is the original model on never-seen people."""
    settings = settings or RelearnSettings()
    seed = config.seed
    split = split_for_check(list(task.forget), seed, settings.test_items)
    if not split.shown or not split.test:
        return {"unavailable": "too few forget facts to split in two"}

    def curve_of(attacked, of_loaded, on: Split, motion: bool = False) -> list[float]:
        measurer = Measurer.for_run(attacked, of_loaded, config)
        measurer.should_stop = should_stop  # a Stop inside a measurement: RunStopped
        try:
            moving = AttackMotion(measurer, task, config) if motion else None
            curve = recovery_curve(measurer, on, settings, seed, should_stop, motion=moving)
        except RunStopped:
            raise RelearningStopped from None
        if moving is not None:
            points["motion"] = moving.block()
        return curve

    points: dict = {}
    same = curve_of(model, loaded, split, motion=True)
    fresh = curve_of(with_fresh_lora(model, config), loaded, split)
    if reference_model is not None:
        gold, gold_loaded = reference_model
        reference = {
            "model": "gold (never saw the forget set), fresh LoRA, the same facts",
            "curve": _frozen_curve(
                gold_loaded, config, split, settings,
                lambda: curve_of(with_fresh_lora(gold, config), gold_loaded, split),
            ),
        }  # fmt: skip
    else:
        unseen = split_for_check(list(task.holdout), seed, len(split.test))
        unseen = Split(unseen.shown[: len(split.shown)], unseen.test)  # as many facts shown
        if not unseen.shown or not unseen.test:
            reference = {"unavailable": "too few facts about never-seen people to compare with"}
        else:
            base = lambda: with_fresh_lora(model, config, keep_adapter=False)  # noqa: E731
            reference = {
                "model": "original, fresh LoRA, facts about never-seen (holdout) people",
                "curve": _frozen_curve(
                    loaded, config, unseen, settings, lambda: curve_of(base(), loaded, unseen)
                ),
            }
    block = {
        "steps": settings.steps,
        "recall_steps": recall_steps(settings),  # the curves' points: after these steps
        "learning_rate": settings.learning_rate,
        "shown_items": len(split.shown),
        "test_items": len(split.test),
        "same_lora": same,
        "fresh_lora": fresh,
        "reference": reference,
        **points,  # motion: the own-LoRA attack's points on the live plot's axes
    }
    block["verdict"] = verdict(block)
    return block


def _frozen_curve(of_loaded, config, split: Split, settings, attack) -> list[float]:
    """The reference's curve: an attack on frozen weights (the gold model, or the original),
    which gives the same curve for the same facts and settings, so it is kept on disk
    (engine/measurement_cache.py) where the weights are a folder it can fingerprint. The check
    of a second run of the same task (an A/B pair's, a class's next run) then attacks twice,
    not three times."""
    from clreg_core.engine import measurement_cache

    weights = measurement_cache.folder_fingerprint(of_loaded.spec.source)
    if weights is None:  # a hub name: no fingerprint of what was downloaded
        return attack()
    key = (
        of_loaded.spec.source, weights, config.seed, config.max_length, config.lora_rank,
        config.lora_alpha, tuple(config.target_modules), config.device, config.precision,
        settings,
        tuple((i.question, i.answer) for i in split.shown),
        tuple((i.question, i.answer) for i in split.test),
    )  # fmt: skip
    found = measurement_cache.load("relearning-reference", key)
    if found is not None:
        return found
    curve = attack()
    measurement_cache.store("relearning-reference", key, curve)
    return curve


def verdict(block: dict) -> dict:
    """Gone or hidden: the unlearned model's recovery (the stronger of the two attacks, at the
    end) against the reference's, with the margin the test sample allows."""
    curve = block.get("reference", {}).get("curve")
    recovered = max(block["same_lora"][-1], block["fresh_lora"][-1])
    if not curve:
        return {"recovered": recovered, "reference": None, "reading": "no reference to compare"}
    reference = curve[-1]
    if recovered - reference > SAME_AS_REFERENCE:
        reading = "hidden: the attack brings back facts it never showed, beyond the reference"
    else:
        reading = "gone as deep as the reference: the attack brings back no more than it"
    return {"recovered": recovered, "reference": reference, "reading": reading}
