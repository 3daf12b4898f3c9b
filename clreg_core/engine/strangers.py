"""Where never-seen people sit: the targets of the pull toward them (holdout_target_weight).

A model retrained without the forget people treats questions about them as it treats questions
about anyone it never met. The original model shows where that is: its features of the holdout
(never-trained) people's answers. These are computed once per run, adapter off, at every CLReg
block, and kept with the attribute each item asks, so a forget answer about a birthplace is
pulled toward never-seen birthplaces, not toward never-seen professions.
"""

from __future__ import annotations

import torch

from clreg_core.config import ConfigError
from clreg_core.data.items import UnlearningTask
from clreg_core.engine.evaluation import Measurer, qa_only
from clreg_core.engine.objective import Objective


def attribute_of(item) -> str | None:
    """The attribute a world question asks ("birthplace", ...), None for other items."""
    return (item.meta or {}).get("attribute")


def set_stranger_targets(objective: Objective, measurer: Measurer, task: UnlearningTask) -> None:
    """Give `objective` the original model's features of `task`'s never-seen items."""
    items = qa_only(task.holdout) or list(task.holdout)
    if not items:
        raise ConfigError(
            f"holdout_target_weight > 0 needs never-seen (holdout) items; {task.name} has none"
        )
    forced = measurer.forced(measurer.encode(items), objective.feature_layers, adapter=False)
    objective.targets = {
        block: torch.as_tensor(z, dtype=torch.float32, device=measurer.device)
        for block, z in forced.features.items()
    }
    objective.target_kinds = [attribute_of(i) for i in items]
