"""The points of the paper-style static view: a run's live-evaluation items, embedded in 2-D from
the original model's and the unlearned model's features at the CLReg layer.

The live plot uses one PCA basis for every step (motion you can trust); this end view embeds each
model's features on their own with UMAP or t-SNE, like the paper's "feature entanglement" figure,
which shows clumps and overlap that a linear projection blurs.
"""

from __future__ import annotations

import numpy as np

from clreg_core.app.figures import embed_2d
from clreg_core.config import RunConfig
from clreg_core.engine.evaluation import Measurer, sample_items
from clreg_core.engine.lora import resolve_layer


def _features(measurer: Measurer, encoded: dict, layer: int, adapter: bool) -> np.ndarray:
    passes = [measurer.forced(encoded[side], [layer], adapter) for side in ("forget", "retain")]
    return np.concatenate([p.features[layer] for p in passes])


def _cloud(features: np.ndarray, n_forget: int, groups: list[str], seed: int) -> tuple[dict, str]:
    xy, method = embed_2d(features, seed)
    xy = np.round(xy, 4)
    cloud = {"forget": xy[:n_forget].tolist(), "retain": xy[n_forget:].tolist()}
    return {**cloud, "forget_groups": groups}, method


def paper_points(
    model, loaded, task, config: RunConfig, original: dict | None, should_stop=lambda: False
) -> tuple[dict, dict]:
    """(the original model's cloud, this run's paper points). The items are the live view's
    (same seeded sample), so the end view shows the points the live plot showed. Pass the first
    run's original cloud back in for the second run of an A/B pair: one "before" picture.
    Raises RunStopped within a batch of `should_stop()` turning true."""
    measurer = Measurer.for_run(model, loaded, config)
    measurer.should_stop = should_stop
    layer = resolve_layer(model, config.feature_layer)
    forget = sample_items(task.forget, config.eval_items, config.seed)
    retain = sample_items(task.retain, config.eval_items, config.seed + 1)
    encoded = {"forget": measurer.encode(forget), "retain": measurer.encode(retain)}
    groups = [item.group for item in forget]
    if original is None:
        features = _features(measurer, encoded, layer, adapter=False)
        original, _ = _cloud(features, len(forget), groups, config.seed)
    features = _features(measurer, encoded, layer, adapter=True)
    after, method = _cloud(features, len(forget), groups, config.seed)
    return original, {"original": original, "after": after, "method": method, "layer": layer}
