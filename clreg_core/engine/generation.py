"""Batched greedy answers and answer scoring, shared by training checks, metrics and the app."""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from transformers import StoppingCriteria


@torch.no_grad()
def greedy_answers(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int = 24,
    batch_size: int = 64,
    should_stop: Callable[[], bool] | None = None,
) -> list[str]:
    """Greedy continuations of `prompts`, decoded without special tokens.

    Prompts are left-padded so every row's next token sits in the last column; the padding side
    is passed per call, so a tokenizer shared by concurrent requests is never modified.
    """
    device = next(model.parameters()).device
    # Prompts of similar length share a batch (less left padding); answers return in input order.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    in_order = [prompts[i] for i in order]
    outputs: list[str] = []
    # a Stop halts generation between tokens; the caller sees should_stop() and discards it
    halt = [_Halt(should_stop)] if should_stop else None
    for start in range(0, len(in_order), batch_size):
        if should_stop and should_stop():
            break
        batch = tokenizer(
            in_order[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            padding_side="left",
        )
        batch = {k: v.to(device) for k, v in batch.items()}
        generated = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            stopping_criteria=halt,
            eos_token_id=tokenizer.eos_token_id,
        )
        new_tokens = generated[:, batch["input_ids"].shape[1] :]
        outputs.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    answers = [""] * len(prompts)  # rows a Stop left unanswered stay empty
    for position, index in enumerate(order[: len(outputs)]):
        answers[index] = outputs[position].strip()
    return answers


class _Halt(StoppingCriteria):
    """Ends generation for every row once `should_stop()` says so (checked each new token)."""

    def __init__(self, should_stop: Callable[[], bool]):
        self.should_stop = should_stop

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.should_stop(), dtype=torch.bool)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and collapse spaces, so "J.K. Rowling" ~ "j k rowling"."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def answer_matches(generated: str, accepted: tuple[str, ...] | list[str]) -> bool:
    """True when any accepted answer appears in the generation as whole words."""
    haystack = f" {normalize_answer(generated)} "
    return any(f" {normalize_answer(a)} " in haystack for a in accepted if normalize_answer(a))
