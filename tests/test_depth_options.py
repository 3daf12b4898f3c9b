"""The options of the depth search (benchmarks/depth_search.py): CLReg at several blocks
(clreg_blocks) and the pull toward never-seen people (holdout_target_weight), on a tiny Llama
built from a config and the world's items."""

import pytest
import torch
from tiny_models import loaded_tiny, nonzero_adapter, small_config, tiny_model

from clreg_core.config import ConfigError, RunConfig, default_config
from clreg_core.data.items import UnlearningTask
from clreg_core.engine import losses
from clreg_core.engine.evaluation import Measurer
from clreg_core.engine.lora import attach_lora
from clreg_core.engine.objective import Objective
from clreg_core.engine.sampling import Batches
from clreg_core.engine.strangers import set_stranger_targets
from clreg_core.engine.training import forget_kinds, run_unlearning


def _model_and_batch(tokenizer, small_task, **changes):
    config = small_config(method="npo", precision="fp32", **changes)
    model = attach_lora(tiny_model("llama"), config)
    nonzero_adapter(model)
    measurer = Measurer(model, tokenizer, "qa", 48)
    batches = Batches(measurer, small_task, config)
    batch, n_forget, groups = batches.next("cpu")
    return config, model, measurer, batches, (batch, n_forget, groups, list(batches.last_keys))


# ---------------------------------------------------------------- clreg_blocks


def test_several_blocks_give_the_mean_of_each_blocks_terms(tokenizer, small_task):
    """clreg_blocks=2 at the last block: the contrastive term and the anchor are the means of
    the terms at the last block alone and at the one before it alone; the base terms are
    unchanged. Holds with reference negatives and the reference cache too."""
    for negatives in ("current", "reference"):
        config, model, _, _, (batch, n, groups, keys) = _model_and_batch(
            tokenizer, small_task, negatives=negatives
        )
        two = Objective(model, config.with_changes(clreg_blocks=2), hidden_size=32)
        assert two.feature_layers == [2, 1]
        both = two(batch, n, groups, keys=keys).terms
        again = two(batch, n, groups, keys=keys).terms  # reference numbers from the cache
        alone = [
            Objective(model, config.with_changes(feature_layer=layer), hidden_size=32)(
                batch, n, groups
            ).terms
            for layer in (-1, -2)
        ]
        for name in ("clreg", "anchor"):
            mean = (alone[0][name] + alone[1][name]) / 2
            assert both[name] == pytest.approx(mean, rel=1e-4, abs=1e-6), (negatives, name)
            assert again[name] == pytest.approx(both[name], rel=1e-5, abs=1e-6)
        assert both["forget"] == pytest.approx(alone[0]["forget"], rel=1e-5)


def test_one_block_is_todays_term(tokenizer, small_task):
    config, model, _, _, (batch, n, groups, _) = _model_and_batch(tokenizer, small_task)
    objective = Objective(model, config, hidden_size=32)
    assert objective.feature_layers == [objective.feature_layer]
    out = objective(batch, n, groups)
    z = None
    from clreg_core.engine.lora import capture_block_outputs

    with torch.no_grad(), capture_block_outputs(model, [2]) as hidden:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        z = losses.pool_features(hidden[2], batch["feature_mask"])
    expected = losses.clreg_infonce(
        z[:n], z[n:], forget_groups=groups, temperature=config.temperature, group_negatives=True
    )
    assert out.terms["clreg"] == pytest.approx(config.clreg_weight * float(expected), rel=1e-4)


def test_more_blocks_than_the_model_has_below_the_feature_layer_are_refused(tokenizer):
    model = attach_lora(tiny_model("llama"), small_config())  # 3 blocks
    Objective(model, small_config(clreg_blocks=3), hidden_size=32)  # blocks 2, 1, 0
    with pytest.raises(ConfigError, match="clreg_blocks=4"):
        Objective(model, small_config(clreg_blocks=4), hidden_size=32)
    with pytest.raises(ConfigError, match="clreg_blocks=2"):
        Objective(model, small_config(clreg_blocks=2, feature_layer=0), hidden_size=32)


@pytest.mark.parametrize("bad", [0, -1, 1025, 1.5, "2", None])
def test_a_bad_block_count_is_refused_with_its_name(bad):
    with pytest.raises(ConfigError, match="clreg_blocks"):
        RunConfig(clreg_blocks=bad)


def test_a_run_with_clreg_at_every_block_finishes(tokenizer, small_task):
    result = run_unlearning(
        small_config(clreg_blocks=3), task=small_task, loaded=loaded_tiny("llama", tokenizer)
    )
    assert result.status == "finished", result.reason
    assert {"clreg", "anchor"} <= set(result.report["history"]["steps"][0])


# ---------------------------------------------------------------- holdout_target_weight


def test_the_targets_are_the_original_models_features_of_never_seen_items(tokenizer, small_task):
    config, model, measurer, _, _ = _model_and_batch(
        tokenizer, small_task, holdout_target_weight=1.0, clreg_blocks=2
    )
    objective = Objective(model, config, hidden_size=32)
    set_stranger_targets(objective, measurer, small_task)
    holdout = list(small_task.holdout)
    assert set(objective.targets) == {2, 1}
    assert objective.targets[2].shape == (len(holdout), 32)
    assert objective.target_kinds == [i.meta["attribute"] for i in holdout]
    original = measurer.forced(measurer.encode(holdout), [2], adapter=False).features[2]
    assert torch.allclose(objective.targets[2], torch.as_tensor(original), atol=1e-6)
    adapted = measurer.forced(measurer.encode(holdout), [2], adapter=True).features[2]
    assert not torch.allclose(objective.targets[2], torch.as_tensor(adapted), atol=1e-4)


def test_the_pull_matches_its_definition_with_the_same_attributes_as_positives(
    tokenizer, small_task
):
    config, model, measurer, batches, (batch, n, groups, keys) = _model_and_batch(
        tokenizer, small_task, holdout_target_weight=2.0
    )
    objective = Objective(model, config, hidden_size=32)
    set_stranger_targets(objective, measurer, small_task)
    kinds = forget_kinds(batches, keys, n)
    assert kinds == [small_task.forget[i].meta["attribute"] for _, i in keys[:n]]
    got = objective(batch, n, groups, keys=keys, kinds=kinds).terms["holdout_target"]
    from clreg_core.engine.lora import capture_block_outputs

    with torch.no_grad(), capture_block_outputs(model, [2]) as hidden:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        z = losses.pool_features(hidden[2], batch["feature_mask"])
    targets, tau = objective.targets[2], config.temperature
    per_anchor = []
    for i in range(n):  # the naive form, anchor by anchor, target by target
        mine = [t for t, k in enumerate(objective.target_kinds) if k == kinds[i]]
        mine = mine or list(range(len(targets)))
        negatives = torch.exp(z[n:] @ z[i] / tau).sum()
        scores = [torch.exp(targets[t] @ z[i] / tau) for t in mine]
        per_anchor.append(-sum(torch.log(s / (s + negatives)) for s in scores) / len(mine))
    expected = config.holdout_target_weight * torch.stack(per_anchor).mean()
    assert got == pytest.approx(float(expected), rel=1e-4)


def test_descending_the_pull_brings_forget_features_to_their_targets():
    generator = torch.Generator().manual_seed(0)
    targets = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=-1)
    retain = torch.nn.functional.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    raw = torch.randn(4, 8, generator=generator, requires_grad=True)
    is_target = torch.eye(4)  # forget row i's only target is target i
    start = (torch.nn.functional.normalize(raw.detach(), dim=-1) * targets).sum(-1)
    optimizer = torch.optim.SGD([raw], lr=0.5)
    for _ in range(200):
        z = torch.nn.functional.normalize(raw, dim=-1)
        loss = losses.target_infonce(z, targets, retain, is_target, temperature=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    z = torch.nn.functional.normalize(raw.detach(), dim=-1)
    to_target = (z * targets).sum(-1)
    # InfoNCE stops pulling once the target outweighs the retain features; by then each row
    # has come toward its own target and sits nearer to it than to any retain feature
    assert (to_target > start + 0.2).all()
    assert (to_target > (z @ retain.T).max(-1).values + 0.3).all()


def test_the_pull_checks_its_shapes_and_temperature():
    z = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    with pytest.raises(ValueError, match="is_target"):
        losses.target_infonce(z, z, z, torch.ones(3, 2))
    with pytest.raises(ValueError, match="temperature"):
        losses.target_infonce(z, z, z, torch.ones(3, 3), temperature=0.0)
    none = losses.target_infonce(z.requires_grad_(), z, z, torch.zeros(3, 3))
    assert float(none.detach()) == 0.0 and none.requires_grad


def test_a_run_with_the_pull_trains_it(tokenizer, small_task):
    result = run_unlearning(
        small_config(holdout_target_weight=1.0),
        task=small_task,
        loaded=loaded_tiny("llama", tokenizer),
    )
    assert result.status == "finished", result.reason
    assert all("holdout_target" in s for s in result.report["history"]["steps"])


def test_the_pull_needs_a_task_with_never_seen_items(tokenizer, small_task):
    no_holdout = UnlearningTask("no-holdout", small_task.forget, small_task.retain, ())
    with pytest.raises(ConfigError, match="holdout_target_weight"):
        run_unlearning(
            small_config(holdout_target_weight=1.0),
            task=no_holdout,
            loaded=loaded_tiny("llama", tokenizer),
        )


@pytest.mark.parametrize("bad", [-0.5, 1001.0, float("nan"), "1", False])
def test_a_bad_pull_weight_is_refused_with_its_name(bad):
    with pytest.raises(ConfigError, match="holdout_target_weight"):
        RunConfig(holdout_target_weight=bad)


def test_the_new_options_default_to_todays_run_and_round_trip():
    default = default_config("embedded")
    assert (default.sam_rho, default.clreg_blocks, default.holdout_target_weight) == (0.0, 1, 0.0)
    config = default.with_changes(sam_rho=0.5, clreg_blocks=2, holdout_target_weight=3.0)
    again = RunConfig.from_json(config.to_json())
    assert again == config
