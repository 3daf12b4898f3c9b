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
    # 1 on the answer tokens that spell the fact's value ("Caldera Bay" in "… was born in
    # Caldera Bay."): whether the model would still say the value, whatever the words around it.
    value_mask: tuple[int, ...] = ()


def encode_item(item: Item, tokenizer, style: PromptStyle, max_length: int) -> EncodedItem:
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if item.kind == "passage":
        ids = tokenizer(item.text, add_special_tokens=True)["input_ids"][: max_length - len(eos)]
        ids = ids + eos
        return EncodedItem(
            tuple(ids), tuple(ids), tuple([1] * len(ids)), item.group, (0,) * len(ids)
        )
    prompt = format_prompt(item.question, style, tokenizer)
    # A chat template already holds every special token; base-model prompts get the tokenizer's
    # usual ones (a BOS for Llama-style tokenizers, nothing for ours).
    prompt_ids = tokenizer(prompt, add_special_tokens=style == "qa")["input_ids"]
    target = format_target(item.answer, style)
    answer_ids, value = _answer_tokens(target, item.accept, tokenizer)
    answer_ids, value = answer_ids[: max_length - len(eos) - 1], value[: max_length - len(eos) - 1]
    answer_ids = answer_ids + eos
    prompt_ids = prompt_ids[max(0, len(prompt_ids) + len(answer_ids) - max_length) :]
    ids = prompt_ids + answer_ids
    labels = [IGNORE] * len(prompt_ids) + answer_ids
    mask = [0] * len(prompt_ids) + [1] * (len(answer_ids) - len(eos)) + [0] * len(eos)
    value_mask = [0] * len(prompt_ids) + value + [0] * len(eos)
    return EncodedItem(tuple(ids), tuple(labels), tuple(mask), item.group, tuple(value_mask))


def _answer_tokens(target: str, values: tuple[str, ...], tokenizer) -> tuple[list[int], list[int]]:
    """The answer's token ids and, per token, 1 where it overlaps the first accepted value found
    in the answer (case-insensitive); every token when no value is found, or when the tokenizer
    cannot map tokens to characters."""
    lowered = target.lower()
    spans = [(at, at + len(v)) for v in values if v and (at := lowered.find(v.lower())) >= 0]
    try:
        encoded = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoded["offset_mapping"]
    except (NotImplementedError, KeyError, TypeError):  # a slow tokenizer has no offsets
        encoded, offsets = tokenizer(target, add_special_tokens=False), None
    ids = list(encoded["input_ids"])
    if not spans or offsets is None:
        return ids, [1] * len(ids)
    start, end = spans[0]
    value = [int(a < end and b > start) for a, b in offsets]
    return ids, value if any(value) else [1] * len(ids)


def collate(items: list[EncodedItem], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors (B, T): input_ids, attention_mask, labels, feature_mask,
    value_mask."""
    width = max(len(e.input_ids) for e in items)
    out = {
        "input_ids": torch.full((len(items), width), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(items), width), dtype=torch.long),
        "labels": torch.full((len(items), width), IGNORE, dtype=torch.long),
        "feature_mask": torch.zeros((len(items), width), dtype=torch.long),
        "value_mask": torch.zeros((len(items), width), dtype=torch.long),
    }
    for row, item in enumerate(items):
        n = len(item.input_ids)
        out["input_ids"][row, :n] = torch.tensor(item.input_ids)
        out["attention_mask"][row, :n] = 1
        out["labels"][row, :n] = torch.tensor(item.labels)
        out["feature_mask"][row, :n] = torch.tensor(item.feature_mask)
        if item.value_mask:
            out["value_mask"][row, :n] = torch.tensor(item.value_mask)
    return out
