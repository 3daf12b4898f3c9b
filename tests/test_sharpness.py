"""The sharpness-aware step on the forget term (RunConfig.sam_rho, engine/sharpness.py), on a
tiny Llama built from a config and the world's items."""

import pytest
import torch
from tiny_models import loaded_tiny, nonzero_adapter, small_config, tiny_model

from clreg_core.config import ConfigError, RunConfig
from clreg_core.engine.evaluation import Measurer
from clreg_core.engine.lora import attach_lora
from clreg_core.engine.objective import Objective
from clreg_core.engine.optimizer import adamw
from clreg_core.engine.sampling import Batches
from clreg_core.engine.sharpness import sharpness_aware_backward
from clreg_core.engine.training import run_unlearning, train_step


def _setup(tokenizer, small_task, **changes):
    config = small_config(method="npo", precision="fp32", **changes)
    model = attach_lora(tiny_model("llama"), config)
    nonzero_adapter(model)  # LoRA B away from zero: every LoRA weight has a gradient
    batches = Batches(Measurer(model, tokenizer, "qa", 48), small_task, config)
    objective = Objective(model, config, hidden_size=32)
    params = [p for p in model.parameters() if p.requires_grad]
    return config, model, batches, objective, params


def _grads(params):
    return [p.grad.detach().clone() for p in params]


def test_the_step_puts_the_weights_back_exactly(tokenizer, small_task):
    _, _, batches, objective, params = _setup(tokenizer, small_task)
    batch, n_forget, groups = batches.next("cpu")
    before = [p.detach().clone() for p in params]
    out = objective(batch, n_forget, groups)
    moved = sharpness_aware_backward(
        out, lambda: objective(batch, n_forget, groups), params, rho=0.5
    )
    assert moved is not None and moved != pytest.approx(out.terms["forget"])
    for p, b in zip(params, before, strict=True):
        assert torch.equal(p.detach(), b)
    assert all(p.grad is not None for p in params)


def test_the_gradient_is_the_rest_here_plus_the_forget_term_at_the_moved_weights(
    tokenizer, small_task
):
    _, _, batches, objective, params = _setup(tokenizer, small_task)
    batch, n_forget, groups = batches.next("cpu")
    rho = 0.3

    def loss():
        return objective(batch, n_forget, groups)

    sharpness_aware_backward(loss(), loss, params, rho=rho)
    got = _grads(params)
    for p in params:
        p.grad = None
    # by hand: the forget gradient, the move along it, the forget gradient there
    out = loss()
    forget_grad = torch.autograd.grad(out.tensors["forget"], params, retain_graph=True)
    rest_grad = torch.autograd.grad(out.total - out.tensors["forget"], params)
    norm = torch.sqrt(sum((g**2).sum() for g in forget_grad))
    with torch.no_grad():
        for p, g in zip(params, forget_grad, strict=True):
            p.add_(g * rho / norm)
    moved_grad = torch.autograd.grad(loss().tensors["forget"], params)
    with torch.no_grad():
        for p, g in zip(params, forget_grad, strict=True):
            p.sub_(g * rho / norm)
    for g, r, m in zip(got, rest_grad, moved_grad, strict=True):
        assert torch.allclose(g, r + m, rtol=1e-4, atol=1e-6)


def test_a_sharpness_aware_step_moves_the_weights_differently_from_a_plain_one(
    tokenizer, small_task
):
    """Same start, same batch: the SAM step lands elsewhere than the plain step; with a radius
    near zero it lands where the plain step does (the gradient at θ+ε tends to the one at θ)."""
    landed = {}
    for rho in (0.0, 1e-7, 0.5):
        config, model, batches, objective, params = _setup(tokenizer, small_task, sam_rho=rho)
        optimizer = adamw(params, config.learning_rate)
        train_step(objective, batches, optimizer, config, "cpu", step=1)
        landed[rho] = torch.cat([p.detach().flatten() for p in params])
    plain, tiny, sam = landed[0.0], landed[1e-7], landed[0.5]
    assert torch.allclose(tiny, plain, atol=1e-5)
    assert (sam - plain).abs().max() > 1e-4


def test_a_run_with_the_sharpness_aware_step_finishes(tokenizer, small_task):
    result = run_unlearning(
        small_config(sam_rho=0.1), task=small_task, loaded=loaded_tiny("llama", tokenizer)
    )
    assert result.status == "finished", result.reason
    assert result.report["config"]["sam_rho"] == 0.1
    assert all(step["forget"] == step["forget"] for step in result.report["history"]["steps"])


def test_without_a_forget_gradient_the_step_is_the_plain_one(tokenizer, small_task):
    """A forget term gone flat (zero gradient) gives no direction to move along: the step
    falls back to the plain gradient instead of dividing by zero."""
    _, _, batches, objective, params = _setup(tokenizer, small_task)
    batch, n_forget, groups = batches.next("cpu")
    out = objective(batch, n_forget, groups)
    out.tensors["forget"] = out.tensors["forget"] * 0.0
    out.total = out.total - out.tensors["forget"].detach()  # unchanged value, zero forget grad
    assert sharpness_aware_backward(out, lambda: None, params, rho=0.5) is None
    assert all(torch.isfinite(p.grad).all() for p in params)


@pytest.mark.parametrize("bad", [-0.1, 11.0, float("nan"), "0.1", True])
def test_a_bad_radius_is_refused_with_its_name(bad):
    with pytest.raises(ConfigError, match="sam_rho"):
        RunConfig(sam_rho=bad)


def test_the_default_is_the_plain_step_and_the_radius_round_trips():
    assert RunConfig().sam_rho == 0.0
    config = RunConfig(sam_rho=0.05)
    assert RunConfig.from_json(config.to_json()).sam_rho == 0.05
    assert RunConfig.from_dict({**config.to_dict(), "sam_rho": 1}).sam_rho == 1.0
