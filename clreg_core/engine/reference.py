"""What the original model gives each training item, computed once per run.

The reference pass (adapter off, no gradient) gives NPO the original log-prob of each forget
answer and CLReg's anchor the original feature of each retain item. The base weights are frozen,
so an item's reference numbers are the same at every step that draws it. Small tasks draw their
items again and again (SmolLM2's default pack: ~28 forget and ~60 retain items, 8 rows a step),
and there the pass shrinks to the rows not seen yet: a default SmolLM2 step took 3.4 s instead of
4.2 s (bf16, 2-core CPU, median of 17 steps each). A default embedded run (16 + 16 rows, 60-80
steps) draws about 1,100 of forget10's 960 forget items and 8,640 retain items, so few twice:
it saves little. Batches are
right padded and attention is causal, so a row's numbers do not depend on the rows beside it (up
to the rounding of the kernels, which a test bounds).

RMU needs the reference hidden state of every token, not a pooled number; it keeps the full pass.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch


class ReferenceCache:
    """Per item key: the reference sequence log-prob (forget rows of NPO) and the pooled
    reference feature (retain rows, for the anchor and reference negatives)."""

    def __init__(self) -> None:
        self.logp: dict[Hashable, torch.Tensor] = {}
        self.features: dict[Hashable, torch.Tensor] = {}
        self.computed_rows = 0  # rows that went through the reference pass, for tests and timing

    def missing(self, forget_keys: Sequence, retain_keys: Sequence, logp: bool, features: bool):
        """Row offsets (forget rows first, then retain rows) whose needed numbers are unknown."""
        rows = [i for i, k in enumerate(forget_keys) if logp and k not in self.logp]
        rows += [
            len(forget_keys) + i
            for i, k in enumerate(retain_keys)
            if features and k not in self.features
        ]
        return rows

    def store(self, keys: Sequence, logp: torch.Tensor | None, features: torch.Tensor | None):
        """Keep each key's log-prob (when given) and feature (when given), detached."""
        self.computed_rows += len(keys)
        for row, key in enumerate(keys):
            if logp is not None:
                self.logp.setdefault(key, logp[row].detach())
            if features is not None:
                self.features.setdefault(key, features[row].detach())

    def gather_logp(self, keys: Sequence) -> torch.Tensor:
        return torch.stack([self.logp[k] for k in keys])

    def gather_features(self, keys: Sequence) -> torch.Tensor:
        return torch.stack([self.features[k] for k in keys])
