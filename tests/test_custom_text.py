"""The user's own text: splitting, decoding uploads, JSONL, and one clear error per mistake."""

from __future__ import annotations

import json
import random

import pytest

from clreg_core.data.custom_text import (
    MAX_ITEMS,
    MAX_PASSAGE_CHARS,
    MAX_TEXT_CHARS,
    MAX_UPLOAD_BYTES,
    MIN_PASSAGE_CHARS,
    decode_upload,
    parse_custom_text,
    passages_from_text,
    qa_from_jsonl,
    read_upload,
    split_into_passages,
)
from clreg_core.data.items import Item
from clreg_core.errors import UserInputError

ESSAY = (
    """The Marrowdene Atlas

Ilsa Marrowdene drew the first complete map of the northern fjords in 1791. She worked from a
small boat, measuring every inlet with a knotted rope and a brass compass! Her assistant, a
former sailor named Tobias Grell, kept the logbooks. Did anyone believe her at first? No.

Notes

The atlas was printed in Bergen. """
    + " ".join(
        f"Sentence number {i} describes yet another inlet of the coast in tedious detail."
        for i in range(40)
    )
    + """

A single run-on sentence follows """
    + " ".join(f"word{i}" for i in range(300))
    + """

End."""
)


def _words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize("max_chars", [40, 100, 250, MAX_PASSAGE_CHARS])
def test_split_respects_max_chars_and_keeps_every_word_in_order(max_chars):
    passages = split_into_passages(ESSAY, max_chars)
    assert passages
    assert all(0 < len(p) <= max_chars for p in passages)
    assert _words(" ".join(passages)) == _words(ESSAY)


def test_split_on_blank_lines_and_at_sentence_ends():
    text = "First paragraph is long enough to stand alone.\n\n  \t\nSecond one, also long enough."
    assert split_into_passages(text) == [
        "First paragraph is long enough to stand alone.",
        "Second one, also long enough.",
    ]
    long = " ".join(f"This is sentence {i} of a long paragraph." for i in range(30))
    passages = split_into_passages(long, 100)
    assert len(passages) > 1
    assert all(p.endswith(".") for p in passages)  # cut between sentences, not inside one


def test_short_paragraphs_merge_with_the_next_and_whitespace_collapses():
    text = "Chapter 1\n\nIntro\n\nThe   real\tparagraph\nwraps over lines.\n\n\n"
    passages = split_into_passages(text)
    assert passages == ["Chapter 1 Intro The real paragraph wraps over lines."]
    # A short last paragraph has no next one, so it joins the one before it.
    assert split_into_passages("A paragraph long enough to stand alone.\n\nThe end.") == [
        "A paragraph long enough to stand alone. The end."
    ]
    assert len("Chapter 1 Intro") < MIN_PASSAGE_CHARS


def test_split_never_returns_empty_strings_and_handles_odd_input():
    assert split_into_passages("") == []
    assert split_into_passages(" \n\n\t\r\n ") == []
    assert split_into_passages("Hi.") == ["Hi."]  # short but all there is
    assert split_into_passages("One paragraph, right here.\r\n\r\nAnother one right here.") == [
        "One paragraph, right here.",
        "Another one right here.",
    ]
    url = "https://example.org/" + "x" * 1500
    passages = split_into_passages(f"See {url} for more.", 600)
    assert all(0 < len(p) <= 600 for p in passages)
    assert "".join(passages).replace(" ", "") == f"See{url}formore."


def test_passages_from_text_gives_passage_items_in_the_group():
    items = passages_from_text(ESSAY, group="person:Ilsa Marrowdene")
    assert len(items) > 3
    assert all(isinstance(i, Item) and i.kind == "passage" for i in items)
    assert {i.group for i in items} == {"person:Ilsa Marrowdene"}
    assert [i.text for i in items] == split_into_passages(ESSAY)


@pytest.mark.parametrize("parse", [passages_from_text, qa_from_jsonl, parse_custom_text])
@pytest.mark.parametrize("text", ["", "   \n\t\r\n  ", "\ufeff", "\ufeff\n\n"])
def test_empty_text_is_rejected(parse, text):
    with pytest.raises(UserInputError, match="The text is empty"):
        parse(text)


@pytest.mark.parametrize("parse", [passages_from_text, qa_from_jsonl, parse_custom_text])
def test_oversized_text_names_its_size_and_the_limit(parse):
    text = "word " * (MAX_TEXT_CHARS // 5 + 1)
    with pytest.raises(UserInputError) as info:
        parse(text)
    assert f"{len(text):,}" in str(info.value)
    assert f"{MAX_TEXT_CHARS:,}" in str(info.value)


def test_too_many_passages_or_pairs_is_rejected():
    paragraphs = "\n\n".join(f"Paragraph number {i} is here." for i in range(MAX_ITEMS + 1))
    with pytest.raises(UserInputError, match=f"{MAX_ITEMS + 1:,} passages.*{MAX_ITEMS:,}"):
        passages_from_text(paragraphs)
    pairs = "\n".join('{"question": "q", "answer": "a"}' for _ in range(MAX_ITEMS + 1))
    with pytest.raises(UserInputError, match=f"{MAX_ITEMS + 1:,} question/answer pairs"):
        qa_from_jsonl(pairs)
    assert len(qa_from_jsonl(pairs.split("\n", 1)[1])) == MAX_ITEMS  # exactly at the limit is fine


def test_bad_group_or_non_string_text_is_a_user_error():
    with pytest.raises(UserInputError, match="group"):
        passages_from_text("Some text that is long enough.", group=" ")
    with pytest.raises(UserInputError, match="must be a string, got bytes"):
        passages_from_text(b"bytes, not text")


GOOD_JSONL = """{"question": "Who drew the fjord atlas?", "answer": "Ilsa Marrowdene"}

{"question": "  Where was it printed? ", "answer": "Bergen", "accept": ["in Bergen"]}
{"question": "Who kept the logbooks?", "answer": "Tobias Grell", "group": "person:Tobias Grell"}
"""


def test_good_jsonl_round_trips_into_items():
    items = qa_from_jsonl(GOOD_JSONL, group="person:Ilsa Marrowdene")
    assert items == [
        Item(
            kind="qa",
            question="Who drew the fjord atlas?",
            answer="Ilsa Marrowdene",
            group="person:Ilsa Marrowdene",
        ),
        Item(
            kind="qa",
            question="Where was it printed?",
            answer="Bergen",
            group="person:Ilsa Marrowdene",
            accept=("in Bergen",),
        ),
        Item(
            kind="qa",
            question="Who kept the logbooks?",
            answer="Tobias Grell",
            group="person:Tobias Grell",
        ),
    ]
    rows = [json.loads(line) for line in GOOD_JSONL.splitlines() if line.strip()]
    back = "\n".join(
        json.dumps(
            {"question": i.question, "answer": i.answer, "group": i.group, "accept": list(i.accept)}
        )
        for i in items
    )
    assert qa_from_jsonl(back) == items
    assert [i.answer for i in items] == [r["answer"] for r in rows]


@pytest.mark.parametrize(
    ("jsonl", "expected"),
    [
        (
            '{"question": "a", "answer": "b"}\n{"question": "c", "answer": "d"}\n{"question": "e",',
            r"line 3: invalid JSON",
        ),
        ('{"question": "a", "answer": "b"}\n\n\nnot json at all', r"line 4: invalid JSON"),
        ('{"question": "a", "answer": "b"}\n["a", "b"]', r"line 2: expected a JSON object.*array"),
        ('{"question": "Who?"}', r'line 1: missing field "answer"'),
        ('{"question": "Who?", "answer": 42}', r'line 1: "answer" must be a string, got a number'),
        ('{"question": null, "answer": "x"}', r'line 1: "question" must be a string, got null'),
        ('{"question": "Who?", "answer": "   "}', r'line 1: "answer" is empty'),
        (
            '{"question": "Who?", "answer": "x", "anwser": "y"}',
            r"line 1: unknown field\(s\) 'anwser'; allowed: question, answer, group, accept",
        ),
        ('{"question": "Who?", "answer": "x", "accept": "y"}', r'line 1: "accept" must be a list'),
        ('{"question": "Who?", "answer": "x", "accept": ["y", 3]}', r'"accept" must be a list'),
        ('{"question": "Who?", "answer": "x", "group": ""}', r'line 1: "group" is empty'),
        ('{"question": "Who?", "answer": "\\ud800"}', r'line 1: "answer" contains a lone surr'),
        ('{"question": "Who?", "answer": ' + "9" * 5000 + "}", r"line 1: .*too many digits"),
    ],
)
def test_malformed_jsonl_names_the_line_and_the_problem(jsonl, expected):
    with pytest.raises(UserInputError, match=expected):
        qa_from_jsonl(jsonl)


def test_deeply_nested_json_is_a_user_error_not_a_crash():
    with pytest.raises(UserInputError, match="line 2: invalid JSON \\(nested too deeply\\)"):
        qa_from_jsonl('{"question": "a", "answer": "b"}\n' + "[" * 50_000 + "]" * 50_000)


def test_auto_detects_jsonl_and_plain_text():
    items = parse_custom_text("\n\n  " + GOOD_JSONL)
    assert [i.kind for i in items] == ["qa"] * 3
    items = parse_custom_text("\ufeff" + GOOD_JSONL)  # a pasted BOM does not hide the "{"
    assert [i.kind for i in items] == ["qa"] * 3
    items = parse_custom_text(ESSAY, group="atlas")
    assert {i.kind for i in items} == {"passage"} and {i.group for i in items} == {"atlas"}
    # An explicit format wins: JSONL-looking text can still be forgotten as plain text.
    assert {i.kind for i in parse_custom_text(GOOD_JSONL, fmt="text")} == {"passage"}
    with pytest.raises(UserInputError, match="line 1: invalid JSON"):
        parse_custom_text(ESSAY, fmt="jsonl")
    with pytest.raises(UserInputError, match="format must be one of auto, text, jsonl; got 'csv'"):
        parse_custom_text(ESSAY, fmt="csv")


def test_decode_upload_handles_bom_and_newlines():
    data = "\ufeffLine one.\r\nLine two.\rLine three, caf\u00e9.\n".encode()
    assert decode_upload(data, "notes.txt") == "Line one.\nLine two.\nLine three, caf\u00e9.\n"
    text = "tabs\tand\x0cform feeds are text\n"
    assert decode_upload(text.encode()) == text


@pytest.mark.parametrize(
    "data",
    [
        b"looks like text\x00but has a NUL",
        "utf-16 without its byte-order mark".encode("utf-16-le"),
        b"caf\xe9 in latin-1",
        bytes(random.Random(0).randbytes(4096)),
        b"\x01\x02\x03\x04 mostly control characters \x05\x06\x07\x08\x1b\x1b\x1b",
    ],
    ids=["nul", "utf16", "latin1", "random", "controls"],
)
def test_binary_uploads_are_rejected_by_name(data):
    with pytest.raises(UserInputError, match="upload.txt looks like a binary file, not text"):
        decode_upload(data, "upload.txt")


def test_utf16_text_with_its_byte_order_mark_is_read_as_text():
    text = "Notes saved by Windows Notepad, caf\u00e9.\r\nSecond line.\r\n"
    for encoding in ("utf-16", "utf-16-be"):
        data = (b"\xfe\xff" if encoding.endswith("be") else b"") + text.encode(encoding)
        assert decode_upload(data, "notes.txt") == text.replace("\r\n", "\n")


def test_oversized_or_empty_upload_is_rejected():
    with pytest.raises(UserInputError) as info:
        decode_upload(b"a" * (MAX_UPLOAD_BYTES + 1), "big.txt")
    assert f"{MAX_UPLOAD_BYTES + 1:,}" in str(info.value)
    assert f"{MAX_UPLOAD_BYTES:,}" in str(info.value)
    with pytest.raises(UserInputError, match="empty.txt is empty"):
        decode_upload(b"", "empty.txt")


def test_read_upload_reads_a_real_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes("\ufeff".encode() + GOOD_JSONL.replace("\n", "\r\n").encode())
    text = read_upload(path)
    assert text == GOOD_JSONL
    assert len(parse_custom_text(text)) == 3
    assert read_upload(str(path)) == text

    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (MAX_UPLOAD_BYTES + 1))
    with pytest.raises(UserInputError, match=f"big.txt is {MAX_UPLOAD_BYTES + 1:,} bytes"):
        read_upload(big)
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(UserInputError, match="model.bin looks like a binary file"):
        read_upload(binary)
    with pytest.raises(UserInputError, match="file not found"):
        read_upload(tmp_path / "missing.txt")
    with pytest.raises(UserInputError, match="could not read"):
        read_upload(tmp_path)


@pytest.mark.parametrize("seed", range(30))
def test_random_input_gives_items_or_a_user_error_never_a_crash(seed):
    rng = random.Random(seed)
    alphabet = '{}[]":,\n\n  abc\\u00e9\x00\x1b.!?' + "\ufeff\r"
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
    for fmt in ("auto", "text", "jsonl"):
        try:
            items = parse_custom_text(text, fmt)
        except UserInputError as err:
            assert str(err)
        else:
            assert all(isinstance(i, Item) for i in items) and items
    try:
        decode_upload(rng.randbytes(rng.randint(0, 300)), "random.bin")
    except UserInputError as err:
        assert "random.bin" in str(err)
