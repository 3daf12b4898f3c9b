"""Seeded forget and retain batches for the training loop.

Forget batches are drawn P x K (`items_per_group` items of each of a few groups, as in
supervised contrastive learning), so every anchor of the contrastive term has positives of its
own group and negatives of others in the same batch. The draw depends only on the data and the
seed, never on whether CLReg is on, so both runs of an A/B see the same batches.
"""

from __future__ import annotations

import random
from collections import defaultdict

import torch

from clreg_core.config import RunConfig
from clreg_core.data.guesses import guessed
from clreg_core.data.items import UnlearningTask
from clreg_core.engine.batching import EncodedItem, collate
from clreg_core.engine.evaluation import Measurer


def grouped_draw(groups: list, count: int, per_group: int, rng: random.Random) -> list[int]:
    """`count` distinct indices: `per_group` from each of randomly chosen groups (all of a
    smaller group), topped up at random if the groups run out. Items without a group (None)
    count as groups of one."""
    by_group: dict = defaultdict(list)
    for index, group in enumerate(groups):
        by_group[group if group is not None else ("item", index)].append(index)
    order = list(by_group)
    rng.shuffle(order)
    picked: list[int] = []
    for group in order:
        if len(picked) >= count:
            break
        members = by_group[group]
        take = min(per_group, len(members), count - len(picked))
        picked += rng.sample(members, take)
    if len(picked) < count:  # fewer items than a batch in whole groups: fill at random
        rest = sorted(set(range(len(groups))) - set(picked))
        picked += rng.sample(rest, min(count - len(picked), len(rest)))
    return picked


class Batches:
    """Seeded random forget and retain batches of encoded items.

    Items are tokenised when first drawn: a short run draws a few thousand of a retain set that
    can hold many more (8,640 for world:forget10)."""

    def __init__(self, measurer: Measurer, task: UnlearningTask, config: RunConfig):
        self.measurer = measurer
        self.forget, self.retain = list(task.forget), list(task.retain)
        self.forget_groups = [i.group for i in self.forget]
        self.config = config
        self.rng = random.Random(config.seed)
        # Guessed values draw from their own stream: the forget and retain batches stay the
        # same whether the guess term is on or off.
        self.guess_rng = random.Random(config.seed + 7919)
        self._last_forget: list[int] = []
        self.last_keys: list[tuple[str, int]] = []
        self.pad_id = measurer.tokenizer.pad_token_id
        self._encoded: dict[tuple[str, int], EncodedItem] = {}

    def _encode(self, side: str, items: list, picked: list[int]) -> list[EncodedItem]:
        for index in picked:
            if (side, index) not in self._encoded:
                self._encoded[side, index] = self.measurer.encode([items[index]])[0]
        return [self._encoded[side, index] for index in picked]

    def next(self, device) -> tuple[dict[str, torch.Tensor], int, list]:
        c = self.config
        count = min(c.forget_batch_size, len(self.forget))
        forget_picked = grouped_draw(self.forget_groups, count, c.items_per_group, self.rng)
        retain_picked = self.rng.sample(
            range(len(self.retain)), min(c.retain_batch_size, len(self.retain))
        )
        self._last_forget = forget_picked
        # what names each row for the reference cache (objective.Objective's `keys`)
        self.last_keys = [("forget", i) for i in forget_picked]
        self.last_keys += [("retain", i) for i in retain_picked]
        forget = self._encode("forget", self.forget, forget_picked)
        retain = self._encode("retain", self.retain, retain_picked)
        batch = collate(forget + retain, self.pad_id)
        return {k: v.to(device) for k, v in batch.items()}, len(forget), [e.group for e in forget]

    def guesses(self, device) -> dict[str, torch.Tensor] | None:
        """The last drawn forget questions, each answered with a fresh random value of its kind
        (data.guesses.guessed): the guess term's batch. None when none can be guessed
        (the term is then off for the step; the report's `guess_term` says so for the run)."""
        items = [guessed(self.forget[i], self.guess_rng) for i in self._last_forget]
        encoded = self.measurer.encode([i for i in items if i is not None])
        if not encoded:
            return None
        return {k: v.to(device) for k, v in collate(encoded, self.pad_id).items()}
