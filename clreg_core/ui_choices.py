"""What the app's pickers offer, as plain strings (the app itself imports no model code)."""

from __future__ import annotations

from clreg_core.data.topic_packs import forget_pack_ids, pack_index
from clreg_core.data.world_source import FORGET_SPLITS, world_topics
from clreg_core.models.registry import REGISTRY


def model_choices() -> list[tuple[str, str]]:
    """(label, key) pairs, offline models first."""
    return [(spec.label, spec.key) for spec in REGISTRY]


def task_choices(model_key: str) -> list[tuple[str, str]]:
    """Forget topics that make sense for the model: the world for the embedded model, topic
    packs for pretrained ones."""
    if model_key == "embedded":
        topics = world_topics()
        choices = [(f"World split {s} ({s[-2:]}% of people)", f"world:{s}") for s in FORGET_SPLITS]
        choices += [(f"Every {p}", f"world:profession:{p}") for p in topics["profession"]]
        choices += [
            (f"Everyone born in {c}", f"world:birthplace:{c}") for c in topics["birthplace"]
        ]
        choices += [(f"Person: {n}", f"world:person:{n}") for n in topics["person"][:40]]
        return choices
    titles = {p["id"]: p["title"] for p in pack_index()}
    return [(f"Topic pack: {titles[p]}", f"pack:{p}") for p in forget_pack_ids()]
