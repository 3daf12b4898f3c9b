"""Items to token batches: input ids, answer labels, and the mask that features are pooled over.

QA items: the prompt (per the model's prompt style) then the answer and end-of-sequence token;
labels are -100 on the prompt, and the feature mask covers the answer tokens. Passages: every token
is labelled and pooled. Long items keep their answer: the prompt is cut from the left first.

The new-words mask marks the answer tokens that say something the question did not: in "Where was
Riaisuv Fivane born?" -> "Riaisuv Fivane was born in Lanterne." only " in", " Lanterne" (the
restated name and words are what a model that never met this person says just as well). The
value mask marks the tokens of an accepted answer ("Lanterne"). The forget losses can be limited
to either (RunConfig.forget_span).
"""

from __future__ import annotations

import re
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
    # 1 on answer tokens with a word the question does not contain (all scored tokens of a
    # passage, and of any answer whose tokenizer gives no character offsets)
    new_words_mask: tuple[int, ...]
    # 1 on answer tokens that overlap an accepted answer string (a world fact's value, a pack's
    # answer and aliases); the new-word tokens where the answer holds none of them
    value_mask: tuple[int, ...]


def encode_item(
    item: Item, tokenizer, style: PromptStyle, max_length: int, feature_span: str = "answer"
) -> EncodedItem:
    """`feature_span` says where z is pooled (RunConfig.feature_span): "answer", every answer
    token; "value", the positions whose next token is part of the value (the hidden states
    from which the model says "Lanterne"), so that shaping z leaves the restated name alone."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if item.kind == "passage":
        ids = tokenizer(item.text, add_special_tokens=True)["input_ids"][: max_length - len(eos)]
        ids = ids + eos
        everything = tuple([1] * len(ids))
        return EncodedItem(tuple(ids), tuple(ids), everything, item.group, everything, everything)
    prompt = format_prompt(item.question, style, tokenizer)
    # A chat template already holds every special token; base-model prompts get the tokenizer's
    # usual ones (a BOS for Llama-style tokenizers, nothing for ours).
    prompt_ids = tokenizer(prompt, add_special_tokens=style == "qa")["input_ids"]
    target = format_target(item.answer, style)
    answer_ids, new, value = answer_tokens(tokenizer, target, item.question, item.accept)
    keep = max_length - len(eos) - 1
    answer_ids, new, value = answer_ids[:keep], new[:keep], value[:keep]
    answer_ids, new, value = answer_ids + eos, new + [0] * len(eos), value + [0] * len(eos)
    prompt_ids = prompt_ids[max(0, len(prompt_ids) + len(answer_ids) - max_length) :]
    ids = prompt_ids + answer_ids
    labels = [IGNORE] * len(prompt_ids) + answer_ids
    mask = [0] * len(prompt_ids) + [1] * (len(answer_ids) - len(eos)) + [0] * len(eos)
    new_words = [0] * len(prompt_ids) + new
    values = [0] * len(prompt_ids) + value
    if feature_span == "value":
        mask = values[1:] + [0]  # position t predicts token t + 1
    return EncodedItem(
        tuple(ids), tuple(labels), tuple(mask), item.group, tuple(new_words), tuple(values)
    )


WORD = re.compile(r"\w+")


def answer_tokens(
    tokenizer, target: str, question: str, accepted: tuple[str, ...] = ()
) -> tuple[list[int], list[int], list[int]]:
    """The answer's token ids (one encoding) and two flags per token: 1 if it overlaps a word
    the question lacks; 1 if it overlaps an accepted answer string found in `target` (case
    folded), or the first flags where the answer holds none of them."""
    try:
        encoded = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
    except NotImplementedError:  # slow tokenizers give no offsets: every answer token is new
        ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        return ids, [1] * len(ids), [1] * len(ids)
    offsets = encoded["offset_mapping"]
    asked = {w.lower() for w in WORD.findall(question)}
    new_spans = [w.span() for w in WORD.finditer(target) if w.group().lower() not in asked]
    new = _overlaps(offsets, new_spans)
    if not any(new):  # an answer that only restates the question: all of it is the answer
        new = [1] * len(new)
    folded = target.lower()
    value_spans = [
        (at, at + len(value))
        for value in accepted
        if value.strip() and (at := folded.find(value.lower())) >= 0
    ]
    value = _overlaps(offsets, value_spans) if value_spans else new
    return encoded["input_ids"], new, value


def _overlaps(offsets, spans) -> list[int]:
    """Per token (start, end) offset, 1 if it overlaps any of the character spans."""
    return [int(any(a < end and start < b for start, end in spans)) for a, b in offsets]


def collate(items: list[EncodedItem], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors (B, T): input_ids, attention_mask, labels, feature_mask."""
    width = max(len(e.input_ids) for e in items)
    out = {
        "input_ids": torch.full((len(items), width), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(items), width), dtype=torch.long),
        "labels": torch.full((len(items), width), IGNORE, dtype=torch.long),
        "feature_mask": torch.zeros((len(items), width), dtype=torch.long),
        "new_words_mask": torch.zeros((len(items), width), dtype=torch.long),
        "value_mask": torch.zeros((len(items), width), dtype=torch.long),
    }
    for row, item in enumerate(items):
        n = len(item.input_ids)
        out["input_ids"][row, :n] = torch.tensor(item.input_ids)
        out["attention_mask"][row, :n] = 1
        out["labels"][row, :n] = torch.tensor(item.labels)
        out["feature_mask"][row, :n] = torch.tensor(item.feature_mask)
        out["new_words_mask"][row, :n] = torch.tensor(item.new_words_mask)
        out["value_mask"][row, :n] = torch.tensor(item.value_mask)
    return out
