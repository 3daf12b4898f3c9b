"""Measuring the unlearned model through merged weights (lora.adapter_merged): the same model,
computed in one matmul per projection, with the model's own weights left as they were."""

import numpy as np
import pytest
import torch
from tiny_models import loaded_tiny, nonzero_adapter, small_config

from clreg_core.config import default_config
from clreg_core.engine.evaluation import Measurer
from clreg_core.engine.lora import adapter_merged, attach_lora
from clreg_core.models.loading import load_model


def _with_adapter(loaded, config):
    model = attach_lora(loaded.model, config)
    nonzero_adapter(model)  # so that merging it changes the weights
    return model


def _weights(model) -> dict[str, torch.Tensor]:
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def forget_items(loaded):
    from clreg_core.engine.tasks import task_for_model

    return task_for_model("world:forget10", loaded.spec).forget


@pytest.fixture(scope="module")
def embedded():
    loaded = load_model("embedded")
    model = _with_adapter(loaded, default_config("embedded"))
    ids = loaded.tokenizer(["Where was Tiatous Rulstead born?"], return_tensors="pt")["input_ids"]
    return loaded, model, ids


@torch.no_grad()
def test_merged_weights_give_the_adapters_outputs_and_leave_every_weight_as_it_was(embedded):
    _, model, ids = embedded
    before = _weights(model)
    unmerged = model(input_ids=ids).logits
    with model.disable_adapter():
        original = model(input_ids=ids).logits
    assert not torch.allclose(unmerged, original, atol=1e-3)  # the adapter matters here
    with adapter_merged(model):
        merged_layers = [m for m in model.modules() if "forward" in m.__dict__]
        merged = model(input_ids=ids).logits
        with model.disable_adapter():  # the original model, asked for inside
            original_inside = model(input_ids=ids).logits
    assert len(merged_layers) == 4 * 7  # every LoRA'd projection of the 4 blocks
    torch.testing.assert_close(merged, unmerged, atol=2e-5, rtol=1e-5)
    assert torch.equal(original_inside, original)
    after = _weights(model)
    assert all(torch.equal(after[name], before[name]) for name in before)
    assert not any("forward" in m.__dict__ for m in model.modules())


def test_a_measurement_that_raises_inside_leaves_the_layers_unmerged(embedded):
    _, model, _ = embedded
    with pytest.raises(RuntimeError, match="stop"), adapter_merged(model):
        raise RuntimeError("stop")
    assert not any("forward" in m.__dict__ for m in model.modules())


def test_the_measurer_merges_on_a_cpu_with_the_same_figures(embedded):
    loaded, model, _ = embedded
    measurer = Measurer.for_run(model, loaded, default_config("embedded"))
    assert measurer.merges_adapter  # this machine measures on its CPU
    encoded = measurer.encode(list(forget_items(loaded))[:24])
    merged = measurer.forced(encoded, [-1], adapter=True)
    measurer.merges_adapter = False
    unmerged = measurer.forced(encoded, [-1], adapter=True)
    np.testing.assert_allclose(merged.logp, unmerged.logp, atol=1e-4)
    np.testing.assert_allclose(merged.features[-1], unmerged.features[-1], atol=1e-4)


@torch.no_grad()
def test_layers_that_are_not_nn_linear_keep_the_unmerged_path(tokenizer):
    model = _with_adapter(loaded_tiny("gpt2", tokenizer), small_config())  # Conv1D projections
    ids = torch.tensor([[5, 6, 7, 8]])
    plain = model(input_ids=ids).logits
    with adapter_merged(model):
        assert not any("forward" in m.__dict__ for m in model.modules())
        assert torch.equal(model(input_ids=ids).logits, plain)


@torch.no_grad()
def test_a_dora_adapter_keeps_the_unmerged_path():
    from peft import LoraConfig, get_peft_model
    from tiny_models import tiny_model

    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], use_dora=True)
    model = get_peft_model(tiny_model("llama"), config).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    plain = model(input_ids=ids).logits
    with adapter_merged(model):
        assert not any("forward" in m.__dict__ for m in model.modules())
        assert torch.equal(model(input_ids=ids).logits, plain)
