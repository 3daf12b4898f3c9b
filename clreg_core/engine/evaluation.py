"""Measuring a model on a task: one teacher-forced pass gives log-probs, token hits and features;
greedy generation gives answers. `adapter=False` measures the original model on the same weights.

Live evaluations (during training) use the cheap teacher-forced pass only; the before/after
evaluation adds generation, membership inference and, where a gold model exists, Forget Quality.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from clreg_core.data.items import Item
from clreg_core.engine import losses
from clreg_core.engine.batching import EncodedItem, collate, encode_item
from clreg_core.engine.generation import answer_matches, greedy_answers
from clreg_core.engine.lora import adapter_merged, capture_block_outputs, decoder_blocks
from clreg_core.metrics import (
    entanglement_score,
    exact_memorization,
    extraction_strength,
    knn_separability,
    rouge_l_recall,
)
from clreg_core.prompting import PromptStyle, format_prompt

MAX_ANSWER_TOKENS = 32
ANSWER_MARGIN_TOKENS = 4  # room for a slightly longer (or different) answer than the reference


@dataclass
class ForcedPass:
    """Per-item results of one teacher-forced pass over a list of items."""

    logp: np.ndarray  # (N,) summed answer log-prob
    lengths: np.ndarray  # (N,) answer tokens scored
    token_logprobs: list[np.ndarray]  # per item, (n_i,)
    token_hits: list[np.ndarray]  # per item, greedy prediction == target, (n_i,)
    features: dict[int, np.ndarray]  # layer -> (N, D) pooled, L2-normalised

    @property
    def mean_token_logp(self) -> np.ndarray:
        return self.logp / np.maximum(self.lengths, 1)


class RunStopped(Exception):
    """A Stop arrived during a measurement (raised between batches, or once generation halts)."""


def sample_items(items: tuple[Item, ...], count: int, seed: int) -> list[Item]:
    """A fixed, seeded subset (all items when there are fewer), in a stable order."""
    items = list(items)
    if len(items) <= count:
        return items
    return random.Random(seed).sample(items, count)


LOGITS_BUDGET = 2**27  # logits a measuring batch may hold (0.5 GB in fp32)


def measuring_batch_size(vocab_size: int, max_length: int) -> int:
    """Rows per measuring batch: 64, or more (up to 512) where the batch's logits stay within
    LOGITS_BUDGET. Fewer, larger batches cost less per item on a small model (the embedded
    model's assessment took 10-20% less time at 512 rows than at 64); a large vocabulary
    keeps the 64 (SmolLM2's 49k words)."""
    return max(64, min(512, LOGITS_BUDGET // (vocab_size * max_length)))


class Measurer:
    def __init__(
        self,
        model,
        tokenizer,
        style: PromptStyle,
        max_length: int,
        batch_size: int = 64,
        feature_span: str = "answer",
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.style = style
        self.max_length = max_length
        self.batch_size = batch_size
        self.feature_span = feature_span  # where features are pooled (RunConfig.feature_span)
        self.device = next(model.parameters()).device
        self.num_layers = len(decoder_blocks(model))
        # Checked between batches: a Stop ends a measurement within one batch (RunStopped).
        self.should_stop: Callable[[], bool] = lambda: False
        # The unlearned model is measured through merged weights on a CPU (lora.adapter_merged:
        # a quarter less time there). Not on a GPU: unmeasured, and a merged copy of a large
        # model's projections would not fit beside it.
        self.merges_adapter = self.device.type == "cpu"

    @classmethod
    def for_run(cls, model, loaded, config) -> Measurer:
        """The measurer of one run: `model` (the LoRA model, or the loaded one) with the loaded
        model's tokenizer and prompt style and the run's length and feature span."""
        return cls(
            model,
            loaded.tokenizer,
            loaded.prompt_style,
            config.max_length,
            batch_size=measuring_batch_size(model.config.vocab_size, config.max_length),
            feature_span=config.feature_span,
        )

    def check_stop(self) -> None:
        if self.should_stop():
            raise RunStopped()

    def adapter(self, enabled: bool):
        """A context in which the model is the unlearned one (adapter on) or the original."""
        if enabled:
            return adapter_merged(self.model) if self.merges_adapter else nullcontext()
        if not hasattr(self.model, "disable_adapter"):
            return nullcontext()
        return self.model.disable_adapter()

    def unlearned(self):
        """Around a series of measurements of the unlearned model: where it measures through
        merged weights, the adapter is merged once for the whole series (the calls inside find
        it merged); the adapter must not change inside."""
        return self.adapter(True)

    def encode(self, items: list[Item]) -> list[EncodedItem]:
        return [
            encode_item(i, self.tokenizer, self.style, self.max_length, self.feature_span)
            for i in items
        ]

    @torch.no_grad()
    def forced(self, encoded: list[EncodedItem], layers: list[int], adapter: bool) -> ForcedPass:
        was_training = self.model.training
        self.model.eval()
        logps, lengths, tok_lp, hits, feats = [], [], [], [], {layer: [] for layer in layers}
        # Similar lengths share a batch, so little compute goes to padding; results are put back
        # in the caller's order at the end.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
        in_order = [encoded[i] for i in order]
        try:
            with self.adapter(adapter):
                for start in range(0, len(in_order), self.batch_size):
                    self.check_stop()
                    chunk = in_order[start : start + self.batch_size]
                    batch = {
                        k: v.to(self.device)
                        for k, v in collate(chunk, self.tokenizer.pad_token_id).items()
                    }
                    first = losses.first_scored_position(batch["labels"])
                    with capture_block_outputs(self.model, layers) as hidden:
                        logits = self.model(
                            input_ids=batch["input_ids"],
                            attention_mask=batch["attention_mask"],
                            logits_to_keep=batch["labels"].shape[1] - first,
                        ).logits
                    batch["labels"] = batch["labels"][:, first:]  # aligned with the kept logits
                    self._collect(logits, batch, hidden, logps, lengths, tok_lp, hits, feats)
        finally:
            self.model.train(was_training)
        restore = np.argsort(order)  # position of each original item in the sorted order
        return ForcedPass(
            logp=np.concatenate(logps)[restore],
            lengths=np.concatenate(lengths)[restore],
            token_logprobs=[tok_lp[i] for i in restore],
            token_hits=[hits[i] for i in restore],
            features={k: np.concatenate(v)[restore] for k, v in feats.items()},
        )

    @staticmethod
    def _collect(logits, batch, hidden, logps, lengths, tok_lp, hits, feats):
        labels = batch["labels"]
        shifted_logits, shifted_labels = logits[:, :-1], labels[:, 1:]
        scored = shifted_labels != -100
        safe = shifted_labels.clamp(min=0)
        # log-softmax only where a token is scored: a 49k-word vocabulary makes the full
        # (B, T, V) float copy a sizeable cost of a pass for a model like SmolLM2.
        scored_logp = torch.log_softmax(shifted_logits[scored].float(), -1)  # (N_scored, V)
        per_token = torch.zeros(scored.shape, device=logits.device)  # 0 where nothing is scored
        per_token[scored] = scored_logp.gather(-1, safe[scored][:, None])[:, 0]
        correct = torch.zeros_like(scored)
        correct[scored] = scored_logp.argmax(-1) == safe[scored]
        # The sequence log-prob and length follow from the per-token values already computed.
        logps.append(per_token.sum(-1).cpu().numpy())
        lengths.append(scored.sum(-1).cpu().numpy())
        for row in range(labels.shape[0]):
            keep = scored[row]
            tok_lp.append(per_token[row][keep].cpu().numpy())
            hits.append(correct[row][keep].cpu().numpy())
        for layer, h in hidden.items():
            feats[layer].append(
                losses.pool_features(h, batch["feature_mask"]).float().cpu().numpy()
            )

    def answers(self, items: list[Item], adapter: bool, max_new_tokens: int | None = None):
        """Greedy answers. By default a `qa`-style model gets the longest reference answer plus a
        margin (a world answer needs ~20 tokens; 32 would waste a third of the time); a chat model
        answers in sentences around a short reference ("gold"), so it gets the full budget."""
        if max_new_tokens is None and self.style == "chat":
            max_new_tokens = MAX_ANSWER_TOKENS
        if max_new_tokens is None:
            longest = max(len(self.tokenizer(i.answer)["input_ids"]) for i in items)
            max_new_tokens = min(MAX_ANSWER_TOKENS, longest + ANSWER_MARGIN_TOKENS)
        prompts = [format_prompt(i.question, self.style, self.tokenizer) for i in items]
        with self.adapter(adapter):
            answers = greedy_answers(
                self.model,
                self.tokenizer,
                prompts,
                max_new_tokens,
                batch_size=self.batch_size,
                should_stop=self.should_stop,
            )
        self.check_stop()  # generation halted early for a Stop: its answers are cut short
        return answers


def qa_only(items) -> list[Item]:
    return [i for i in items if i.kind == "qa"]


def answer_hits(items: list[Item], answers: list[str]) -> list[bool]:
    """Whether each greedy answer contains the item's answer (or an accepted alias)."""
    return [answer_matches(a, i.accepted_answers) for a, i in zip(answers, items, strict=True)]


def answer_scores(items: list[Item], answers: list[str]) -> dict[str, float]:
    """Greedy-answer accuracy and ROUGE-L recall against the reference answer."""
    if not items:
        return {"accuracy": float("nan"), "rouge_l": float("nan")}
    hits = answer_hits(items, answers)
    rouge = [rouge_l_recall(a, i.answer) for a, i in zip(answers, items, strict=True)]
    return {"accuracy": float(np.mean(hits)), "rouge_l": float(np.mean(rouge))}


def memorisation_scores(forced: ForcedPass) -> dict[str, float]:
    """Answer probability (per-token geometric mean), exact memorisation, extraction strength."""
    return {
        "answer_prob": float(np.mean(np.exp(forced.mean_token_logp))),
        "exact_memorization": float(np.mean([exact_memorization(h) for h in forced.token_hits])),
        "extraction_strength": float(np.mean([extraction_strength(h) for h in forced.token_hits])),
    }


def separation(forget: np.ndarray, retain: np.ndarray) -> dict[str, float]:
    return {
        "entanglement": entanglement_score(forget, retain),
        "knn_separability": knn_separability(forget, retain),
    }
