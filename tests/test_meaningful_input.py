"""Input that passes a shape check but says nothing, or is not text at all, is refused with a
message: invisible-only questions and names, lone surrogates, true/false for numbers."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clreg_core.app.explore import _check_question
from clreg_core.app.ui_choices import advanced_defaults, chosen_model, config_from_form
from clreg_core.config import ConfigError
from clreg_core.errors import UserInputError
from clreg_core.user_text import meaningful, visible_count

INVISIBLE_ONLY = ["\u200b", "\u200b\u200c\u200d", "\ufeff", "\u2060 \u200e", "\u00a0\u200b\u3000"]


@pytest.mark.parametrize("text", INVISIBLE_ONLY)
def test_a_question_of_invisible_characters_is_refused(text):
    with pytest.raises(UserInputError, match="no visible characters"):
        _check_question(text)


def test_a_lone_surrogate_is_refused_with_where_it_is():
    with pytest.raises(UserInputError, match="position 4 .*U\\+D800"):
        _check_question("Who\ud800 is it?")


def test_text_is_compared_in_one_normal_form():
    decomposed = "Where was Jose\u0301 born?"  # e + combining acute
    assert _check_question(decomposed) == unicodedata.normalize("NFC", decomposed)
    assert "\u00e9" in _check_question(decomposed)


def test_a_typed_model_name_of_invisible_characters_leaves_the_dropdowns_choice():
    assert chosen_model("embedded", "\u200b\u2060") == "embedded"
    assert chosen_model("embedded", " ./models/x ") == "./models/x"


@pytest.mark.parametrize("value", [True, False])
def test_true_and_false_are_not_numbers(value):
    fields = advanced_defaults("embedded")
    with pytest.raises(ConfigError, match="must be a number, not true/false"):
        config_from_form("embedded", "world:forget10", "npo", True, value, fields)
    with pytest.raises(ConfigError, match="must be a number, not true/false"):
        config_from_form("embedded", "world:forget10", "npo", True, 1.0, [value, *fields[1:]])
    with pytest.raises(ConfigError, match="true or false"):
        config_from_form("embedded", "world:forget10", "npo", "yes", 1.0, fields)


@given(st.text(alphabet=st.characters(codec=None), max_size=12))
def test_any_text_is_kept_with_something_visible_or_refused_with_a_message(text):
    """Every Unicode category, surrogates (Cs), format (Cf) and separators (Z*) included."""
    try:
        kept = meaningful(text, "the text")
    except UserInputError as error:
        assert str(error).startswith("the text ")  # a message, naming what was refused
        return
    assert kept == unicodedata.normalize("NFC", kept) and visible_count(kept) > 0


@pytest.mark.parametrize("text", ["\u200b\u200b\u200b", "\u200b\n\u2060\n\ufeff\u200d"])
def test_own_text_of_invisible_characters_is_refused(text):
    from clreg_core.data.custom_text import parse_custom_text

    with pytest.raises(UserInputError, match="The text has no visible characters"):
        parse_custom_text(text)


def test_an_invisible_answer_in_jsonl_is_refused_with_its_line():
    from clreg_core.data.custom_text import parse_custom_text

    rows = '{"question": "Who?", "answer": "Ann"}\n{"question": "Where?", "answer": "\\u200b"}'
    with pytest.raises(UserInputError, match='line 2.*"answer" is empty'):
        parse_custom_text(rows, "jsonl")


def test_own_text_with_a_lone_surrogate_is_refused_with_where_it_is():
    from clreg_core.data.custom_text import parse_custom_text

    with pytest.raises(UserInputError, match="position 7 .*U\\+DC00"):
        parse_custom_text("Hello \udc00 world, a passage of text.", "text")
