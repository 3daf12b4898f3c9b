"""A task as the chosen model should see it: the one place where the model and the data meet.

The data layer knows nothing of models, so what depends on the model is passed in here: a pack
task keeps the items this model knew before unlearning, and the user's own text keeps what this
model knows (the world's retain people for the embedded models, general knowledge otherwise).
"""

from __future__ import annotations

from clreg_core.data.items import UnlearningTask
from clreg_core.data.sources import build_task
from clreg_core.models.registry import ModelSpec


def task_for_model(name: str, spec: ModelSpec, custom_text: str = "") -> UnlearningTask:
    return build_task(
        name, model_key=spec.key, custom_text=custom_text, custom_retain=spec.own_text_retain
    )
