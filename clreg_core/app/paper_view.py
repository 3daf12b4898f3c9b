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
    model,
    loaded,
    task,
    config: RunConfig,
    fixed: dict | None,
    should_stop=lambda: False,
    gold=None,
) -> tuple[dict, dict]:
    """(the frozen models' clouds, this run's paper points). The items are the live view's (same
    seeded sample), so the end view shows the points the live plot showed. The frozen clouds
    are the original model's and, where `gold` (the gold model, loaded) is given, the gold
    model's own features of the same items: what a model that never saw the forget set looks
    like. Pass them back in for the second run of an A/B pair: one picture of each.
    Raises RunStopped within a batch of `should_stop()` turning true."""
    forget = sample_items(task.forget, config.eval_items, config.seed)
    retain = sample_items(task.retain, config.eval_items, config.seed + 1)
    groups = [item.group for item in forget]

    def cloud_of(of_model, of_loaded, adapter: bool) -> tuple[dict, str]:
        measurer = Measurer.for_run(of_model, of_loaded, config)
        measurer.should_stop = should_stop
        encoded = {"forget": measurer.encode(forget), "retain": measurer.encode(retain)}
        layer = resolve_layer(of_model, config.feature_layer)
        return _cloud(
            _features(measurer, encoded, layer, adapter), len(forget), groups, config.seed
        )

    if fixed is None:
        fixed = {"original": cloud_of(model, loaded, adapter=False)[0]}
        if gold is not None:
            fixed["gold"] = cloud_of(gold.model, gold, adapter=False)[0]
    after, method = cloud_of(model, loaded, adapter=True)
    layer = resolve_layer(model, config.feature_layer)
    return fixed, {**fixed, "after": after, "method": method, "layer": layer}
