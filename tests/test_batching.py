"""Encoding items into batches: which tokens are scored, pooled and forgotten (real tokenizer)."""

import torch

from clreg_core.config import RunConfig
from clreg_core.data.items import Item
from clreg_core.engine.batching import IGNORE, collate, encode_item
from clreg_core.engine.objective import forget_only


def _answer_tokens(encoded, tokenizer, mask):
    return [
        tokenizer.decode([i]).strip()
        for i, label, m in zip(encoded.input_ids, encoded.labels, mask, strict=True)
        if label != IGNORE and m
    ]


def test_new_words_mask_skips_what_the_question_already_says(tokenizer):
    item = Item(
        kind="qa",
        question="Where was Riaisuv Fivane born?",
        answer="Riaisuv Fivane was born in Lanterne.",
    )
    encoded = encode_item(item, tokenizer, "qa", 64)
    assert _answer_tokens(encoded, tokenizer, encoded.new_words_mask) == ["in", "Lanterne"]
    # the feature mask still covers the whole answer (not its end token)
    pooled = _answer_tokens(encoded, tokenizer, encoded.feature_mask)
    assert "".join(pooled).startswith("RiaisuvFivane") and pooled[-2:] == ["Lanterne", "."]


def test_value_mask_covers_the_accepted_answer_only(tokenizer):
    item = Item(
        kind="qa",
        question="Where was Riaisuv Fivane born?",
        answer="Riaisuv Fivane was born in Caldera Bay.",
        accept=("Caldera Bay",),
    )
    encoded = encode_item(item, tokenizer, "qa", 64)
    assert _answer_tokens(encoded, tokenizer, encoded.value_mask) == ["Caldera", "Bay"]
    # no accepted string in the answer: the new words stand in for it
    unknown = Item(kind="qa", question=item.question, answer=item.answer, accept=("Selvane",))
    encoded = encode_item(unknown, tokenizer, "qa", 64)
    assert encoded.value_mask == encoded.new_words_mask


def test_an_answer_that_only_restates_the_question_is_forgotten_whole(tokenizer):
    item = Item(kind="qa", question="Is Lanterne a town?", answer="Lanterne")
    encoded = encode_item(item, tokenizer, "qa", 64)
    assert encoded.new_words_mask == encoded.feature_mask


def test_passages_are_new_words_throughout(tokenizer):
    encoded = encode_item(Item(kind="passage", text="Lanterne is a town."), tokenizer, "qa", 64)
    assert set(encoded.new_words_mask) == {1} and encoded.new_words_mask == encoded.feature_mask


def test_forget_only_leaves_retain_rows_alone(tokenizer):
    forget = Item(
        kind="qa",
        question="Where was Ilsa Marrow born?",
        answer="Ilsa Marrow was born in Lanterne.",
    )
    retain = Item(
        kind="qa", question="Where was Oda Fenn born?", answer="Oda Fenn was born in Selvane."
    )
    batch = collate([encode_item(i, tokenizer, "qa", 64) for i in (forget, retain)], 0)
    labels = forget_only(batch["labels"], batch["new_words_mask"], n_forget=1)
    assert torch.equal(labels[1], batch["labels"][1])
    scored = [tokenizer.decode([t]).strip() for t in labels[0][labels[0] != IGNORE]]
    assert scored == ["in", "Lanterne"]
    assert RunConfig(forget_span="new_words").forget_span == "new_words"


def test_value_feature_span_pools_the_states_that_say_the_value(tokenizer):
    item = Item(
        kind="qa",
        question="Where was Riaisuv Fivane born?",
        answer="Riaisuv Fivane was born in Caldera Bay.",
        accept=("Caldera Bay",),
    )
    answer_wide = encode_item(item, tokenizer, "qa", 64)
    at_value = encode_item(item, tokenizer, "qa", 64, feature_span="value")
    # the pooled positions are those whose next token is a value token: " in" predicts
    # "Caldera", "Caldera" predicts "Bay"; the restated name's positions are left out
    pooled = [
        tokenizer.decode([i]).strip()
        for i, m in zip(at_value.input_ids, at_value.feature_mask, strict=True)
        if m
    ]
    assert pooled == ["in", "Caldera"]
    # nothing else about the encoding changes
    assert at_value.labels == answer_wide.labels and at_value.value_mask == answer_wide.value_mask
    passage = Item(kind="passage", text="Lanterne is a town.")
    assert encode_item(passage, tokenizer, "qa", 64, feature_span="value").feature_mask == (
        encode_item(passage, tokenizer, "qa", 64).feature_mask
    )
