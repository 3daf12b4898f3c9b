"""Items to token batches: input ids, answer labels, and the mask that features are pooled over.

QA items: the prompt (per the model's prompt style) then the answer and end-of-sequence token;
labels are -100 on the prompt, and the feature mask covers the answer tokens. Passages: every token
is labelled and pooled. Long items keep their answer: the prompt is cut from the left first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from clreg_core.data.items import Item
from clreg_core.prompting import PromptStyle, format_prompt, format_target

IGNORE = -100


@dataclass(frozen=True)
class EncodedItem:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    feature_mask: tuple[int, ...]  # 1 where z is pooled (answer tokens, or the whole passage)
    group: str | None


def encode_item(item: Item, tokenizer, style: PromptStyle, max_length: int) -> EncodedItem:
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if item.kind == "passage":
        ids = tokenizer(item.text, add_special_tokens=True)["input_ids"][: max_length - len(eos)]
        ids = ids + eos
        return EncodedItem(tuple(ids), tuple(ids), tuple([1] * len(ids)), item.group)
    prompt = format_prompt(item.question, style, tokenizer)
    # A chat template already holds every special token; base-model prompts get the tokenizer's
    # usual ones (a BOS for Llama-style tokenizers, nothing for ours).
    prompt_ids = tokenizer(prompt, add_special_tokens=style == "qa")["input_ids"]
    answer_ids = tokenizer(format_target(item.answer, style), add_special_tokens=False)["input_ids"]
    answer_ids = answer_ids[: max_length - len(eos) - 1] + eos
    prompt_ids = prompt_ids[max(0, len(prompt_ids) + len(answer_ids) - max_length) :]
    ids = prompt_ids + answer_ids
    labels = [IGNORE] * len(prompt_ids) + answer_ids
    mask = [0] * len(prompt_ids) + [1] * (len(answer_ids) - len(eos)) + [0] * len(eos)
    return EncodedItem(tuple(ids), tuple(labels), tuple(mask), item.group)


def collate(items: list[EncodedItem], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors (B, T): input_ids, attention_mask, labels, feature_mask."""
    width = max(len(e.input_ids) for e in items)
    out = {
        "input_ids": torch.full((len(items), width), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(items), width), dtype=torch.long),
        "labels": torch.full((len(items), width), IGNORE, dtype=torch.long),
        "feature_mask": torch.zeros((len(items), width), dtype=torch.long),
    }
    for row, item in enumerate(items):
        n = len(item.input_ids)
        out["input_ids"][row, :n] = torch.tensor(item.input_ids)
        out["attention_mask"][row, :n] = 1
        out["labels"][row, :n] = torch.tensor(item.labels)
        out["feature_mask"][row, :n] = torch.tensor(item.feature_mask)
    return out
