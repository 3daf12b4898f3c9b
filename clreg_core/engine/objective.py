"""One unlearning step's loss: the base method plus CLReg, from one forward pass.

    L = L_base + λ·L_CL + μ·L_anchor           (method.md)

The forget and retain batches go through the LoRA model together; a hook reads the feature layer
(and RMU's layer) from that same pass. What the original model would say comes from a second,
gradient-free pass with the adapter disabled, run only when some term needs it; what it gives
each item is kept (engine/reference.py), so an item drawn again skips it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from clreg_core.config import ConfigError, RunConfig
from clreg_core.engine import losses
from clreg_core.engine.distributed import Processes
from clreg_core.engine.lora import capture_block_outputs, resolve_layer
from clreg_core.engine.reference import ReferenceCache


@dataclass
class Reference:
    """What the original model gives the step's rows: NPO's log-probs of the forget rows,
    the pooled features of the retain rows, and (RMU only) the retain rows' hidden states."""

    forget_logp: torch.Tensor | None = None
    retain_z: torch.Tensor | None = None
    retain_hidden: dict[int, torch.Tensor] | None = None


@dataclass
class StepOutput:
    total: torch.Tensor
    terms: dict[str, float]  # every loss term, for the live curves and the report
    # the terms as tensors still in the graph: a sharpness-aware step (engine/sharpness.py)
    # takes the forget term's gradient apart from the rest's
    tensors: dict[str, torch.Tensor] | None = None


class Objective:
    def __init__(
        self, model, config: RunConfig, hidden_size: int, processes: Processes | None = None
    ):
        self.model = model
        # among several processes, the contrastive term gathers every process's rows
        self.processes = processes or Processes.single()
        self.config = config
        self.feature_layer = resolve_layer(model, config.feature_layer)
        # the blocks CLReg acts on: feature_layer and the clreg_blocks - 1 below it
        self.feature_layers = feature_blocks(self.feature_layer, config.clreg_blocks)
        self.rmu_layer = resolve_layer(model, config.rmu_layer)
        self.control = losses.random_unit_vector(hidden_size, seed=config.seed)
        # Other groups can be negatives only where groups are what the positives follow.
        self.group_negatives = config.group_negatives and config.positives == "group"
        self.cache = ReferenceCache()
        # holdout_target_weight: the original model's features of never-seen people's answers at
        # each CLReg block (T, D) and the attribute each asks (engine/strangers.py sets them)
        self.targets: dict[int, torch.Tensor] | None = None
        self.target_kinds: list = []

    @property
    def needs_reference(self) -> bool:
        c = self.config
        clreg_ref = c.clreg and (c.anchor_weight > 0 or c.negatives == "reference")
        return c.method in ("npo", "rmu") or clreg_ref

    def _layers(self) -> list[int]:
        rmu = [self.rmu_layer] if self.config.method == "rmu" else []
        return [*self.feature_layers, *rmu]

    def __call__(
        self,
        batch: dict[str, torch.Tensor],
        n_forget: int,
        groups: list,
        guesses: dict[str, torch.Tensor] | None = None,
        keys: list | None = None,
        kinds: list | None = None,
    ) -> StepOutput:
        """`keys` name the batch's items (forget rows, then retain rows); with them the
        reference numbers of an item seen before come from the cache. `kinds` are the forget
        rows' attributes, which pick their never-seen targets (holdout_target_weight)."""
        c = self.config
        rows = batch["input_ids"].shape[0]
        # The guess rows ride in the same forward pass as the batch (one pass instead of two;
        # measured, it saves little: their cost follows their number of rows); they are scored
        # apart below.
        joint = batch if guesses is None else stack_rows(batch, guesses)
        batch = {key: value[:rows] for key, value in joint.items()}  # padded as wide as joint
        start = losses.first_scored_position(joint["labels"])
        labels = joint["labels"][:rows, start:]  # logits exist from `start` on (no LM head before)
        if c.forget_span in ("new_words", "value"):
            mask = batch[f"{c.forget_span}_mask"]  # new_words_mask or value_mask
            labels = forget_only(labels, mask[:, start:], n_forget)
        elif not c.forget_eos:
            labels = forget_only(labels, batch["feature_mask"][:, start:], n_forget)
        keep = joint["labels"].shape[1] - start
        with capture_block_outputs(self.model, self._layers()) as captured:
            all_logits = self.model(
                input_ids=joint["input_ids"],
                attention_mask=joint["attention_mask"],
                logits_to_keep=keep,
            ).logits  # (B+G, T - start, V)
        hidden = {layer: h[:rows] for layer, h in captured.items()}
        logits = all_logits[:rows]
        logp = losses.sequence_logprob(logits, labels)  # (B,)
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        lengths = losses.token_counts(labels)
        ref = self._reference(inputs, labels, batch["feature_mask"], keep, n_forget, keys)
        f = slice(0, n_forget)
        r = slice(n_forget, None)
        terms: dict[str, torch.Tensor] = {}

        if c.method == "gradascent":
            terms["forget"] = losses.grad_ascent_loss(logp[f])
        elif c.method == "graddiff":
            terms["forget"] = c.forget_weight * losses.grad_ascent_loss(logp[f])
        elif c.method == "npo":
            terms["forget"] = losses.npo_loss(logp[f], ref.forget_logp, beta=c.npo_beta)
        elif c.method == "simnpo":
            terms["forget"] = losses.simnpo_loss(
                logp[f], lengths[f], beta=c.simnpo_beta, gamma=c.simnpo_gamma
            )
        if c.method in ("graddiff", "npo", "simnpo"):
            name, retain = self._retain_term(inputs, logits, labels, keep, n_forget, logp)
            terms[name] = c.retain_weight * retain
        elif c.method == "rmu":
            h, h_ref = hidden[self.rmu_layer], ref.retain_hidden[self.rmu_layer]
            mask = batch["attention_mask"]
            terms["forget"] = losses.rmu_loss(
                h[f],
                h[r],
                h_ref,
                self.control.to(h.device),
                forget_mask=rmu_forget_mask(batch, c.forget_span)[f],
                retain_mask=mask[r],
                steering_coef=c.rmu_steering,
                alpha=c.retain_weight,
            )

        if guesses is not None:
            guess_labels = joint["labels"][rows:, start:]
            guess_mask = joint["value_mask"][rows:, start:]
            terms["guess"] = c.guess_weight * guess_loss(
                all_logits[rows:], guess_labels, guess_mask
            )

        if c.clreg:
            terms.update(self._clreg_terms(hidden, batch, inputs, ref, n_forget, groups, kinds))

        total = sum(terms.values())
        # one copy to the host for every term (on a GPU each float() would be a sync of its own)
        names = [*terms, "total"]
        values = torch.stack([v.detach().float() for v in (*terms.values(), total)]).tolist()
        return StepOutput(total=total, terms=dict(zip(names, values, strict=True)), tensors=terms)

    def _clreg_terms(self, hidden, batch, inputs, ref, n_forget, groups, kinds) -> dict:
        """The contrastive term, the anchor and the pull toward never-seen people, each the
        mean over the CLReg blocks (one block by default: feature_layer alone)."""
        c = self.config
        f, r = slice(0, n_forget), slice(n_forget, None)
        mask = batch["feature_mask"]
        ref_z = self._split_blocks(ref.retain_z)
        views = self._dropout_view(inputs, mask, n_forget)
        gather = self.processes.gather_with_grad
        forget_groups = self.processes.gather_list(groups[:n_forget])
        terms: dict[str, list[torch.Tensor]] = {}
        for block in self.feature_layers:
            z = losses.pool_features(hidden[block], mask)
            negatives = ref_z[block] if c.negatives == "reference" else z[r]
            terms.setdefault("clreg", []).append(
                c.clreg_weight
                * losses.clreg_infonce(
                    gather(z[f]),
                    gather(negatives),
                    forget_groups=forget_groups,
                    temperature=c.temperature,
                    positives=c.positives,
                    forget_z_view2=None if views is None else gather(views[block]),
                    group_negatives=self.group_negatives,
                )
            )
            if c.anchor_weight > 0:
                anchor = losses.anchor_loss(z[r], ref_z[block])
                terms.setdefault("anchor", []).append(c.anchor_weight * anchor)
            if c.holdout_target_weight > 0:
                pull = self._target_pull(block, z[f], z[r], kinds)
                terms.setdefault("holdout_target", []).append(c.holdout_target_weight * pull)
        return {name: torch.stack(parts).mean() for name, parts in terms.items()}

    def _target_pull(self, block: int, forget_z, retain_z, kinds):
        """Forget features toward the original model's features of never-seen people who were
        asked the same attribute (every never-seen answer where none was), away from retain."""
        if self.targets is None:
            raise ConfigError(
                "holdout_target_weight > 0 needs never-seen (holdout) items' features; this "
                "run has none (a task without a holdout cannot use it)"
            )
        target_kinds = self.target_kinds
        kinds = kinds if kinds is not None else [None] * len(forget_z)
        same = [[k is not None and k == t for t in target_kinds] for k in kinds]
        # an anchor whose attribute no never-seen item asks is pulled toward all of them
        rows = [row if any(row) else [True] * len(target_kinds) for row in same]
        is_target = torch.tensor(rows, dtype=forget_z.dtype, device=forget_z.device)
        return losses.target_infonce(
            forget_z, self.targets[block], retain_z, is_target, self.config.temperature
        )

    def _pool_blocks(self, hidden: dict, mask: torch.Tensor) -> torch.Tensor:
        """Each CLReg block's pooled features side by side (B, blocks·D): one tensor per item,
        as the reference cache keeps them; `_split_blocks` takes them apart."""
        return torch.cat([losses.pool_features(hidden[b], mask) for b in self.feature_layers], -1)

    def _split_blocks(self, z: torch.Tensor | None) -> dict[int, torch.Tensor | None]:
        if z is None:
            return dict.fromkeys(self.feature_layers)
        parts = z.chunk(len(self.feature_layers), dim=-1)
        return dict(zip(self.feature_layers, parts, strict=True))

    def _retain_term(self, inputs, logits, labels, keep: int, n_forget: int, logp):
        """The base method's retain term and its name: NLL of the retain answers, or the KL
        from the original model's distribution over them (RunConfig.retain_loss)."""
        if self.config.retain_loss == "nll":
            return "retain_nll", losses.nll(logp[n_forget:])
        retain_inputs = {k: v[n_forget:] for k, v in inputs.items()}
        with torch.no_grad(), self.model.disable_adapter():
            ref_logits = self.model(**retain_inputs, logits_to_keep=keep).logits
        return "retain_kl", losses.retain_kl(logits[n_forget:], ref_logits, labels[n_forget:])

    def _reference(self, inputs, labels, feature_mask, keep: int, n_forget: int, keys):
        """The original model's numbers for this step's rows (adapter off, no gradient): only
        NPO compares forget rows with it; every other use (RMU's retain term, CLReg's anchor and
        reference negatives) needs the retain rows alone."""
        c = self.config
        if not self.needs_reference:
            return Reference()
        wants_logp = c.method == "npo"
        wants_z = c.clreg and (c.anchor_weight > 0 or c.negatives == "reference")
        if keys is None or c.method == "rmu":  # RMU needs every token's state: no cache
            first = 0 if wants_logp else n_forget
            rows = range(first, len(labels))
            hidden, logp = self._reference_pass(inputs, labels, keep, rows, wants_logp)
            return Reference(
                forget_logp=logp[:n_forget] if wants_logp else None,
                retain_z=(
                    self._pool_blocks(
                        {b: hidden[b][n_forget - first :] for b in self.feature_layers},
                        feature_mask[n_forget:],
                    )
                    if wants_z
                    else None
                ),
                retain_hidden={k: v[n_forget - first :] for k, v in hidden.items()},
            )
        forget_keys, retain_keys = keys[:n_forget], keys[n_forget:]
        rows = self.cache.missing(forget_keys, retain_keys, wants_logp, wants_z)
        if rows:
            hidden, logp = self._reference_pass(inputs, labels, keep, rows, wants_logp)
            z = self._pool_blocks(hidden, feature_mask[rows])
            self.cache.store([keys[i] for i in rows], logp, z)
        return Reference(
            forget_logp=self.cache.gather_logp(forget_keys) if wants_logp else None,
            retain_z=self.cache.gather_features(retain_keys) if wants_z else None,
        )

    def _reference_pass(self, inputs, labels, keep: int, rows, wants_logp: bool):
        """Hidden states at the loss layers and (when asked) sequence log-probs of `rows`, from
        the model with its adapter disabled."""
        rows = list(rows)
        picked = {k: v[rows] for k, v in inputs.items()}
        with torch.no_grad(), self.model.disable_adapter():
            with capture_block_outputs(self.model, self._layers()) as hidden:
                logits = self.model(**picked, logits_to_keep=keep if wants_logp else 1).logits
            logp = losses.sequence_logprob(logits, labels[rows]) if wants_logp else None
            return {k: v.detach() for k, v in hidden.items()}, logp

    def _dropout_view(self, inputs, feature_mask, n_forget):
        """A second dropout-noised pass over the forget rows (SimCSE-style positives), pooled
        at each CLReg block."""
        if self.config.positives != "dropout_view":
            return None
        forget_inputs = {k: v[:n_forget] for k, v in inputs.items()}
        with capture_block_outputs(self.model, self.feature_layers) as hidden:
            self.model(**forget_inputs, logits_to_keep=1)  # only the features are needed
        return {b: losses.pool_features(hidden[b], feature_mask[:n_forget]) for b in hidden}


def feature_blocks(last: int, count: int) -> list[int]:
    """`count` consecutive block indices ending at block `last` (RunConfig.clreg_blocks)."""
    if last - count + 1 < 0:
        raise ConfigError(
            f"clreg_blocks={count} reaches below the first block: feature_layer is block {last}, "
            f"so at most {last + 1} blocks end there"
        )
    return list(range(last, last - count, -1))


def guess_loss(logits: torch.Tensor, labels: torch.Tensor, value_mask: torch.Tensor):
    """Token-mean NLL of the guessed values (each row's value tokens, then over rows): the
    answer the forget questions should get instead, as about a stranger."""
    labels = forget_only(labels, value_mask, len(labels))
    logp = losses.sequence_logprob(logits, labels)
    return -(logp / losses.token_counts(labels).clamp(min=1)).mean()


def stack_rows(batch: dict[str, torch.Tensor], extra: dict[str, torch.Tensor]):
    """`batch` with `extra`'s rows below it, both right-padded to the wider one: padding is
    masked out of attention, ignored by the labels and outside every mask, so each row's
    numbers are the ones it gets alone."""
    width = max(batch["input_ids"].shape[1], extra["input_ids"].shape[1])
    fill = {"labels": losses.IGNORE_INDEX}  # input_ids take 0 (masked), masks 0
    return {
        key: torch.cat(
            [
                torch.nn.functional.pad(
                    part[key], (0, width - part[key].shape[1]), value=fill.get(key, 0)
                )
                for part in (batch, extra)
            ]
        )
        for key in batch
    }


def forget_only(labels: torch.Tensor, mask: torch.Tensor, n_forget: int):
    """`labels` (B, T) with the forget rows scored only where `mask` is 1; retain rows as given.

    With the feature mask (the answer's tokens, not its end token): the answer's own tokens are
    what is forgotten, and pushing down the end-of-sequence token too taught the model not to
    stop after a forget answer ("… Lanterne. now now now …"); passages are pooled over every
    token and keep all of theirs. With the new-words mask: only what the answer adds to the
    question (batching.py)."""
    out = labels.clone()
    forget = out[:n_forget]
    forget[mask[:n_forget] == 0] = losses.IGNORE_INDEX
    return out


def rmu_forget_mask(batch: dict, forget_span: str) -> torch.Tensor:
    """Where RMU steers a forget row: every token where `forget_span` is "answer" (the paper's
    form, for passages), else only the positions that say the span's tokens (the hidden state
    at t produces token t + 1). Steering the question and the restated name too garbled the
    embedded model's answers at every setting tried (43-79% not well-formed; BENCHMARKS.md
    "Every method at its defaults")."""
    if forget_span not in ("new_words", "value"):
        return batch["attention_mask"]
    span = batch[f"{forget_span}_mask"]
    return torch.nn.functional.pad(span[:, 1:], (0, 1))
