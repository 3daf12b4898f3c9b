"""A sharpness-aware step for the forget term (RunConfig.sam_rho).

Unlearning that ends in a sharp basin of the forget loss is undone by a few steps of
fine-tuning: a small move of the weights brings the forget answers back. Fan et al. (2025,
"Towards LLM Unlearning Resilient to Relearning Attacks: A Sharpness-Aware Minimization
Perspective") read resilience to relearning as robustness of the forget loss to weight
perturbations, and optimise its worst case in a ball of radius ρ, approximated SAM's way (one
ascent step along the normalised gradient). Only the forget term is made sharpness-aware; the
other terms (retain, guess, CLReg, anchor) keep their gradient at the current weights.

    g = ∇ L_rest(θ) + ∇ L_forget(θ + ε),   ε = ρ · ∇L_forget(θ) / ‖∇L_forget(θ)‖

The trainable (LoRA) weights are copied before the move and copied back after, exactly; the
caller's optimiser then steps with g.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

FORGET_TERM = "forget"  # the base method's forget term in Objective's terms


def sharpness_aware_backward(
    out,
    recompute: Callable[[], object],
    params: list[torch.Tensor],
    rho: float,
    context: Callable[[], AbstractContextManager] | None = None,
) -> float | None:
    """Fill each parameter's `.grad` with the sharpness-aware gradient of `out` (an
    Objective's StepOutput at the current weights) instead of `out.total.backward()`.

    `recompute()` runs the same objective on the same batch again (at the perturbed weights),
    inside `context()` when given (the run's autocast). Returns the forget term at the perturbed
    weights (None where the step fell back to the plain gradient: no forget term, or a zero or
    non-finite forget gradient, along which there is no direction to move)."""
    forget = (out.tensors or {}).get(FORGET_TERM)
    if forget is None or not forget.requires_grad:
        out.total.backward()
        return None
    at_start = _grads(forget, params, retain_graph=True)
    (out.total - forget).backward()  # every other term, at the current weights
    norm = torch.sqrt(sum((g.float() ** 2).sum() for g in at_start))
    if not torch.isfinite(norm) or norm == 0:
        _accumulate(params, at_start)
        return None
    scale = rho / norm
    saved = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p, g in zip(params, at_start, strict=True):
                p.add_(g.to(p.dtype), alpha=float(scale))
        with context() if context is not None else torch.enable_grad():
            moved = recompute()
        moved_forget = moved.tensors[FORGET_TERM]
        at_moved = _grads(moved_forget, params, retain_graph=False)
    finally:
        with torch.no_grad():
            for p, value in zip(params, saved, strict=True):
                p.copy_(value)
    _accumulate(params, at_moved)
    return float(moved_forget.detach())


def _grads(loss: torch.Tensor, params: list[torch.Tensor], retain_graph: bool):
    """d loss / d params, zeros for parameters the loss does not reach."""
    grads = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def _accumulate(params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            if p.grad is None:
                p.grad = g.detach().clone()
            else:
                p.grad.add_(g)
