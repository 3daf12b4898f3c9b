"""Unlearning losses and the CLReg regularizer, as pure functions of tensors.

Definitions follow docs/method.md. The caller runs one forward pass per batch and hands in what it
produced: per-sequence summed log-probs (from `sequence_logprob`) and hidden states at one layer.
Every loss returns a scalar to *minimise*. Conventions:

- `labels` are unshifted, as in Hugging Face (aligned with `input_ids`, -100 where no loss); the
  causal shift (logits[:, :-1] predict labels[:, 1:]) happens here, in one place.
- NLL means the summed token NLL of a sequence, averaged over the batch (method.md); pass `lengths`
  to `nll` for the token-mean that Hugging Face's `.loss` reports instead.
- Reference-model inputs (θ0: log-probs, hidden states, features) are detached inside, so a caller
  cannot train the reference by accident.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
POSITIVES = ("group", "all_forget", "dropout_view")


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    # bf16 sums over 50 tokens or 1000 dims lose whole units; float64 inputs stay float64.
    return x.to(torch.promote_types(x.dtype, torch.float32))


# ---------------------------------------------------------------- log-probs


def sequence_logprob(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Summed log-prob of each sequence's label tokens, shape (B,), float32 or wider.

    `logits` (B, T, V) come straight from a causal LM; `labels` (B, T) are *unshifted* (HF
    convention): logits[:, t] predict labels[:, t + 1]. Positions with `ignore_index` add nothing.
    Computed as gathered logit minus a logsumexp taken only at the scored positions (the answer
    tokens, often under half of a QA row), so no (B, T, V) log_softmax copy exists, as in TRL's
    `selective_log_softmax`. bf16/fp16 logits are upcast for those positions only.
    """
    logits, targets = logits[:, :-1], labels[:, 1:]  # (B, T-1, V), (B, T-1)
    keep = targets != ignore_index
    safe = targets.masked_fill(~keep, 0)  # gather cannot take -100
    picked = _at_least_float32(logits.gather(-1, safe.unsqueeze(-1)).squeeze(-1))  # (B, T-1)
    norm = torch.logsumexp(_at_least_float32(logits[keep]), dim=-1)  # (N_kept,)
    per_token = torch.zeros_like(picked).masked_scatter(keep, picked[keep] - norm)
    return per_token.sum(-1)


def first_scored_position(labels: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> int:
    """The first position whose logits any label needs (logits at t predict labels at t + 1).

    A forward pass can skip the LM head before it (`logits_to_keep`), and `sequence_logprob` of
    those logits against `labels[:, start:]` is the same number: prompt tokens are never scored,
    and the head's vocabulary-wide product is a large share of a small model's compute."""
    scored = (labels[:, 1:] != ignore_index).any(0).nonzero()
    return int(scored[0]) if len(scored) else 0


def token_counts(labels: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Number of tokens `sequence_logprob` scores per sequence, shape (B,): same shift."""
    return (labels[:, 1:] != ignore_index).sum(-1)


# ---------------------------------------------------------------- base methods


def nll(logp: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of summed NLL; with `lengths`, the token-mean NLL of the whole batch."""
    if lengths is None:
        return -logp.mean()
    return -logp.sum() / lengths.sum().clamp(min=1).to(logp.dtype)


def retain_kl(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor):
    """KL(original || current) of the next-token distributions at each row's scored positions,
    summed over the row's tokens and averaged over rows (the scale of `nll`). Where NLL pulls
    each retain answer toward its one written sentence, this keeps the whole distribution the
    original model had there: its wording, its other likely answers, its style."""
    keep = labels[:, 1:] != IGNORE_INDEX  # same shift as sequence_logprob
    current = F.log_softmax(_at_least_float32(logits[:, :-1][keep]), dim=-1)  # (N, V)
    original = F.log_softmax(_at_least_float32(ref_logits[:, :-1][keep]), dim=-1)
    per_token = F.kl_div(current, original, log_target=True, reduction="none").sum(-1)
    per_row = torch.zeros(keep.shape, dtype=per_token.dtype, device=per_token.device)
    return per_row.masked_scatter(keep, per_token).sum(-1).mean()


def grad_ascent_loss(forget_logp: torch.Tensor) -> torch.Tensor:
    """GradAscent: −NLL on forget items, i.e. mean(logp). Minimising it *raises* their NLL."""
    return -nll(forget_logp)


def grad_diff_loss(
    forget_logp: torch.Tensor, retain_logp: torch.Tensor, gamma: float = 1.0, alpha: float = 1.0
) -> torch.Tensor:
    """GradDiff: γ·(−NLL(forget)) + α·NLL(retain)."""
    return gamma * grad_ascent_loss(forget_logp) + alpha * nll(retain_logp)


def npo_loss(
    forget_logp: torch.Tensor, forget_ref_logp: torch.Tensor, beta: float = 0.1
) -> torch.Tensor:
    """NPO (Zhang et al. 2024): −(2/β)·mean log σ(−β·(logp − ref_logp)); β=0.1 is customary.

    Forget term only; the retain-regularised form adds `alpha * nll(retain_logp)`. Equals
    (2/β)·log 2 at the start of training, when the model is still the reference.
    """
    log_ratio = forget_logp - forget_ref_logp.detach()
    return -(2.0 / beta) * F.logsigmoid(-beta * log_ratio).mean()


def simnpo_loss(
    forget_logp: torch.Tensor, forget_lengths: torch.Tensor, beta: float = 2.5, gamma: float = 0.0
) -> torch.Tensor:
    """SimNPO (Fan et al. 2024): −(2/β)·mean log σ(−(β/|y|)·logp − γ), no reference model.

    Forget term only; add `alpha * nll(retain_logp)` for the usual form. Defaults: SimNPO's TOFU
    runs use β in 2.5–4.5 with γ=0; we start at β=2.5, γ=0. γ is the paper's margin: open-unlearning
    writes it as `delta` inside the β product, so its delta equals our γ/β.
    """
    lengths = forget_lengths.clamp(min=1).to(forget_logp.dtype)
    return -(2.0 / beta) * F.logsigmoid(-(beta / lengths) * forget_logp - gamma).mean()


def random_unit_vector(dim: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """RMU's fixed direction u, shape (D,): uniform [0, 1) entries, L2-normalised.

    Uniform rather than Gaussian because the WMDP reference code (and open-unlearning) draw it so.
    A private generator keeps the global RNG untouched.
    """
    generator = torch.Generator().manual_seed(seed)
    vector = torch.rand(dim, generator=generator, dtype=torch.float64)
    return (vector / vector.norm()).to(dtype)


def masked_token_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` (B, T) over positions where `mask` (B, T) is 1, per sequence: (B,)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def rmu_loss(
    forget_hidden: torch.Tensor,
    retain_hidden: torch.Tensor,
    retain_ref_hidden: torch.Tensor,
    control_vector: torch.Tensor,
    *,
    forget_mask: torch.Tensor,
    retain_mask: torch.Tensor,
    steering_coef: float,
    alpha: float,
) -> torch.Tensor:
    """RMU (Li et al. 2024): mean ‖h_f − c·u‖² + α·mean ‖h_r − h_r,ref‖², at one layer.

    Hidden states are (B, T, D), masks (B, T). Each mean is over a sequence's masked tokens, then
    over sequences, as in the paper. The squared norm sums over D: the WMDP code and open-unlearning
    use an element MSE, D times smaller; under Adam only the weight relative to other terms changes.
    """
    forget_hidden = _at_least_float32(forget_hidden)
    retain_hidden = _at_least_float32(retain_hidden)
    target = steering_coef * control_vector.to(forget_hidden)  # (D,)
    forget_dist = ((forget_hidden - target) ** 2).sum(-1)  # (B, T)
    retain_dist = ((retain_hidden - retain_ref_hidden.detach().to(retain_hidden)) ** 2).sum(-1)
    forget_term = masked_token_mean(forget_dist, forget_mask).mean()
    return forget_term + alpha * masked_token_mean(retain_dist, retain_mask).mean()


# ---------------------------------------------------------------- CLReg


def pool_features(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """CLReg features z: mean of `hidden` (B, T, D) where `mask` (B, T) is 1, L2-normalised: (B, D).

    A row with an empty mask pools to the zero vector and stays zero (normalize is eps-safe).
    """
    hidden = _at_least_float32(hidden)
    weights = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, D)
    return F.normalize(pooled, dim=-1)


def _same_group(groups: Sequence | torch.Tensor, size: int, device: torch.device) -> torch.Tensor:
    if not isinstance(groups, torch.Tensor):
        ids: dict = {}
        groups = torch.tensor([ids.setdefault(g, len(ids)) for g in groups], device=device)
    if groups.shape != (size,):
        raise ValueError(f"forget_groups has shape {tuple(groups.shape)}, expected ({size},)")
    return groups.to(device).unsqueeze(0) == groups.to(device).unsqueeze(1)  # (F, F)


def clreg_infonce(
    forget_z: torch.Tensor,
    retain_z: torch.Tensor,
    forget_groups: Sequence | torch.Tensor | None = None,
    temperature: float = 0.1,
    positives: str = "group",
    forget_z_view2: torch.Tensor | None = None,
    group_negatives: bool = False,
) -> torch.Tensor:
    """L_CL of method.md: InfoNCE with forget anchors, forget positives, retain negatives.

    `forget_z` (F, D) and `retain_z` (R, D) are normalised features. For anchor i, each positive p
    scores −log(e^{s_ip/τ} / (e^{s_ip/τ} + Σ_n e^{s_in/τ})), s a dot product, n over the negatives
    N(i); the loss averages over p ∈ P(i), then over anchors with a positive. P(i) by `positives`:
    - "group": other forget rows with the same `forget_groups` label (all other rows if None);
    - "all_forget": all other forget rows;
    - "dropout_view": only its own second view, `forget_z_view2[i]` (F, D), from a dropout pass.
    N(i) is every retain row and, with `group_negatives` (supervised contrast over group labels),
    also the forget rows of other groups, so forget groups are pushed apart from each other as
    well as from retain instead of collapsing into one clump. `group_negatives` needs "group"
    positives with labels (elsewhere no forget row is of another group). `forget_groups` (F
    labels: ints, strings, or a tensor) matters only to "group".
    Pass `retain_z.detach()` (or reference-model features) for frozen retain negatives. With no
    positive at all (one forget row, or all singleton groups) the loss is a zero still attached
    to `forget_z`'s graph, so `backward()` works and changes nothing.
    """
    if positives not in POSITIVES:
        raise ValueError(f"positives={positives!r}; expected one of {POSITIVES}")
    if temperature <= 0:
        raise ValueError(f"temperature={temperature}; it must be > 0")
    if (positives == "dropout_view") != (forget_z_view2 is not None):
        raise ValueError("forget_z_view2 is required by, and only by, positives='dropout_view'")
    if group_negatives and (positives != "group" or forget_groups is None):
        raise ValueError("group_negatives needs positives='group' and forget_groups")

    # log Σ_n e^{s_in/τ} over retain rows; an empty retain set gives -inf.
    negatives = torch.logsumexp(forget_z @ retain_z.T / temperature, dim=-1)  # (F,)

    if forget_z_view2 is not None:
        pos = (forget_z * forget_z_view2).sum(-1) / temperature  # (F,)
        return -(pos - torch.logaddexp(pos, negatives)).mean()

    sims = forget_z @ forget_z.T / temperature  # (F, F)
    n = forget_z.shape[0]
    is_pos = ~torch.eye(n, dtype=torch.bool, device=forget_z.device)
    if positives == "group" and forget_groups is not None:
        same = _same_group(forget_groups, n, forget_z.device)
        is_pos &= same
        if group_negatives:  # add Σ over other groups' forget rows to each anchor's negatives
            others = sims.masked_fill(same, float("-inf"))
            negatives = torch.logaddexp(negatives, torch.logsumexp(others, dim=-1))
    log_prob = sims - torch.logaddexp(sims, negatives.unsqueeze(1))  # (F, F), row = anchor
    counts = is_pos.sum(-1)  # (F,)
    has_pos = counts > 0
    if not has_pos.any():
        return forget_z.sum() * 0.0
    per_anchor = (log_prob * is_pos).sum(-1)[has_pos] / counts[has_pos]
    return -per_anchor.mean()


def anchor_loss(retain_z: torch.Tensor, retain_ref_z: torch.Tensor) -> torch.Tensor:
    """L_anchor: mean over retain rows of ‖z − z_ref‖²; z_ref (from θ0) is detached here."""
    return ((retain_z - retain_ref_z.detach()) ** 2).sum(-1).mean()


def target_infonce(
    forget_z: torch.Tensor,
    target_z: torch.Tensor,
    retain_z: torch.Tensor,
    is_target: torch.Tensor,
    temperature: float = 0.1,
) -> torch.Tensor:
    """InfoNCE that pulls each forget feature toward given target features, away from retain.

    `forget_z` (F, D), `target_z` (T, D) and `retain_z` (R, D) are normalised features;
    `is_target` (F, T) says which targets are anchor i's positives. For each of them,
    −log(e^{s_it/τ} / (e^{s_it/τ} + Σ_n e^{s_in/τ})), averaged over the anchor's targets, then
    over anchors that have one. The targets are fixed points (detached here): the original
    model's features of people it never saw, where a model that never met the forget people
    would put them. No anchor with a target gives a zero attached to `forget_z`'s graph."""
    if temperature <= 0:
        raise ValueError(f"temperature={temperature}; it must be > 0")
    if is_target.shape != (forget_z.shape[0], target_z.shape[0]):
        raise ValueError(
            f"is_target has shape {tuple(is_target.shape)}, expected "
            f"({forget_z.shape[0]}, {target_z.shape[0]})"
        )
    negatives = torch.logsumexp(forget_z @ retain_z.T / temperature, dim=-1, keepdim=True)
    sims = forget_z @ target_z.detach().to(forget_z).T / temperature  # (F, T)
    log_prob = sims - torch.logaddexp(sims, negatives)
    counts = is_target.sum(-1)
    has = counts > 0
    if not has.any():
        return forget_z.sum() * 0.0
    per_anchor = (log_prob * is_target).sum(-1)[has] / counts[has]
    return -per_anchor.mean()
