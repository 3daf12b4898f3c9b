"""The prompt format and the answer matcher that every accuracy figure depends on."""

import pytest
from transformers import AutoTokenizer

from clreg_core.engine.generation import answer_matches, normalize_answer
from clreg_core.models.registry import EMBEDDED_DIR
from clreg_core.prompting import format_prompt, format_target


def test_qa_prompt_and_target():
    assert format_prompt("  Where was X born? ") == "Question: Where was X born?\nAnswer:"
    assert format_target("X was born in Y.") == " X was born in Y."


def test_qa_prompt_and_target_tokenize_at_a_word_boundary():
    """Prompt and target are tokenized separately in training; that must equal joint encoding."""
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED_DIR)
    prompt, target = format_prompt("What pet does Peze Gythmont have?"), format_target("A cat.")
    joint = tokenizer(prompt + target)["input_ids"]
    assert tokenizer(prompt)["input_ids"] + tokenizer(target)["input_ids"] == joint


def test_chat_style_needs_a_template():
    with pytest.raises(ValueError, match="chat template"):
        format_prompt("Hi?", "chat", tokenizer=None)
    with pytest.raises(ValueError, match="unknown prompt style"):
        format_prompt("Hi?", "poem")


@pytest.mark.parametrize(
    "generated, accepted, expected",
    [
        ("The author is J.K. Rowling.", ["J.K. Rowling"], True),
        ("It was written by j k rowling", ["J.K. Rowling"], True),
        ("Rowling wrote it", ["J.K. Rowling", "Rowling"], True),
        ("It has 16 legs", ["6"], False),  # whole words only: 6 is not in 16
        ("Six legs", ["6", "six"], True),
        ("Paristown is nice", ["Paris"], False),
        ("anything", [""], False),
    ],
)
def test_answer_matches_whole_words(generated, accepted, expected):
    assert answer_matches(generated, accepted) is expected


def test_normalize_answer():
    assert normalize_answer("  E=mc²!  The END ") == "e mc² the end"


def test_greedy_answers_leave_a_shared_tokenizer_as_it_was():
    from transformers import AutoModelForCausalLM

    from clreg_core.engine.generation import greedy_answers

    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED_DIR)
    tokenizer.padding_side = "right"
    model = AutoModelForCausalLM.from_pretrained(EMBEDDED_DIR).eval()
    prompts = [format_prompt("Where was Peze Gythmont born?"), format_prompt("Who?")]
    answers = greedy_answers(model, tokenizer, prompts)
    assert tokenizer.padding_side == "right"
    assert answers[0] == greedy_answers(model, tokenizer, prompts[:1])[0]  # padding is inert
    assert "Peze Gythmont was born in" in answers[0]
