"""The user's own text to forget: pasted or uploaded plain text, or JSONL question/answer pairs.

Everything here guards the app's one free-form input. Whatever arrives (empty, huge, binary,
malformed), the caller gets either a list of `Item`s or a `UserInputError` whose message the app
shows as is, so each message names the file, line, field or limit the user has to fix.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from clreg_core.data.items import Item
from clreg_core.errors import UserInputError
from clreg_core.paths import FileTooLargeError, read_capped
from clreg_core.user_text import normalised, surrogate_at, visible_count

MAX_TEXT_CHARS = 200_000
MAX_ITEMS = 2_000
# A passage trains as one item of at most max_length tokens (64 by default): at ~4 characters
# a token, 240 characters fit it. At 600, of a 265-token paragraph only its first 63 tokens
# ever entered the loss; shorter passages cover the whole text.
MAX_PASSAGE_CHARS = 240
MIN_PASSAGE_CHARS = 20
MAX_UPLOAD_BYTES = 1_000_000

FORMATS = ("auto", "text", "jsonl")
_QA_FIELDS = ("question", "answer", "group", "accept")
# The JSON names of what json.loads returns, so messages speak the user's language, not Python's.
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}

# Real text has tabs, newlines and form feeds but almost no other control characters; a file
# where more than this share of characters are controls is data that happens to decode as UTF-8.
_MAX_CONTROL_SHARE = 0.05
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# A sentence ends at . ! or ?, possibly followed by a closing quote or bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?]) |(?<=[.!?][\"'\u201d\u2019)\]]) ")


def _normalise(text: str) -> str:
    """One newline convention, and no BOM (a pasted BOM would break the first JSON line)."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _check_upload_size(size: int, filename: str) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise UserInputError(
            f"{filename} is {size:,} bytes; uploads are limited to {MAX_UPLOAD_BYTES:,} bytes"
        )


def decode_upload(data: bytes, filename: str = "upload") -> str:
    """Decode an uploaded file as UTF-8 text, rejecting files that are too big or not text."""
    _check_upload_size(len(data), filename)
    if not data:
        raise UserInputError(f"{filename} is empty (0 bytes)")
    binary = f"{filename} looks like a binary file, not text"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its byte-order mark (Windows)
        try:
            return _normalise(bytes(data).decode("utf-16"))
        except UnicodeDecodeError:
            raise UserInputError(
                f"{filename} starts like UTF-16 text but does not decode as UTF-16; "
                "save it as UTF-8 text"
            ) from None
    # Real UTF-8 text has no NUL bytes; UTF-16 text and nearly every binary format do.
    if b"\x00" in data:
        raise UserInputError(f"{binary} (it contains NUL bytes); save it as UTF-8 text")
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserInputError(
            f"{binary} (byte {data[err.start]:#04x} at offset {err.start} is not valid UTF-8); "
            "save it as UTF-8 text"
        ) from None
    controls = len(_CONTROL.findall(text))
    if controls > _MAX_CONTROL_SHARE * len(text):
        raise UserInputError(f"{binary} ({controls:,} of {len(text):,} characters are controls)")
    return _normalise(text)


def read_upload(path: str | os.PathLike) -> str:
    """Read and decode an uploaded file: only a regular file (not a device such as /dev/zero,
    whose size says 0, nor a fifo or a folder), and never more than the cap's bytes of it.
    A missing, unreadable or irregular file is refused by `read_capped` ("file not found: …",
    "could not read …")."""
    path = Path(path)
    try:
        data = read_capped(path, MAX_UPLOAD_BYTES)
    except FileTooLargeError as err:  # its size, from fstat (or at least the cap + 1 read)
        _check_upload_size(err.size, path.name)
        raise
    return decode_upload(data, path.name)


def _pack(pieces: list[str], max_chars: int) -> list[str]:
    """Greedily join pieces (each <= max_chars) with spaces into chunks of <= max_chars."""
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= max_chars:
            chunks[-1] += " " + piece
        else:
            chunks.append(piece)
    return chunks


def _chunk_paragraph(paragraph: str, max_chars: int) -> list[str]:
    """Split one whitespace-collapsed paragraph into chunks of at most max_chars."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        # One over-long sentence: fall back to words, and cut a single giant "word" (a URL,
        # base64) so that max_chars holds without exception.
        for word in sentence.split(" "):
            pieces.extend(word[i : i + max_chars] for i in range(0, len(word), max_chars))
    return _pack(pieces, max_chars)


def split_into_passages(text: str, max_chars: int = MAX_PASSAGE_CHARS) -> list[str]:
    """Split text into passages of at most max_chars: paragraphs, then sentences, then words."""
    if max_chars < 1:
        raise UserInputError(f"max_chars must be at least 1, got {max_chars}")
    passages: list[str] = []
    pending = ""  # short paragraphs (headings, list items) waiting to join the next paragraph
    for raw in _PARAGRAPH_BREAK.split(_normalise(text)):
        paragraph = " ".join(f"{pending} {raw}".split())
        if not paragraph:
            continue
        if len(paragraph) < MIN_PASSAGE_CHARS:
            pending = paragraph
            continue
        pending = ""
        passages.extend(_chunk_paragraph(paragraph, max_chars))
    if pending:  # a short last paragraph has no next one: attach it to the previous if it fits
        if passages and len(passages[-1]) + 1 + len(pending) <= max_chars:
            passages[-1] += " " + pending
        else:
            passages.extend(_chunk_paragraph(pending, max_chars))
    return passages


def _check_text(text: Any, group: Any) -> str:
    """The normalised text, once it is known to be a non-empty string within the size limit."""
    if not isinstance(text, str):
        raise UserInputError(f"the text must be a string, got {type(text).__name__}")
    if not isinstance(group, str) or not group.strip():
        raise UserInputError(f"group must be a non-empty string, got {group!r}")
    text = _normalise(text)  # first: a lone BOM is not whitespace to strip(), yet it is empty
    if not text.strip():
        raise UserInputError("The text is empty: paste some text or upload a text file.")
    text = normalised(text, "the text")  # NFC; a lone surrogate refused with where it is
    if not visible_count(text):
        raise UserInputError(
            "The text has no visible characters (only invisible ones, such as zero-width "
            "spaces): paste some text or upload a text file."
        )
    if len(text) > MAX_TEXT_CHARS:
        raise UserInputError(
            f"The text is {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}. "
            "Shorten it or forget it in several runs."
        )
    return text


def _too_many(count: int, what: str) -> UserInputError:
    return UserInputError(
        f"The text gives {count:,} {what}; the limit is {MAX_ITEMS:,}. Shorten the text."
    )


def passages_from_text(text: str, group: str = "custom") -> list[Item]:
    """Plain text as passage items, all in one group."""
    passages = split_into_passages(_check_text(text, group))
    if len(passages) > MAX_ITEMS:
        raise _too_many(len(passages), "passages")
    return [Item(kind="passage", text=p, group=group) for p in passages]


def _string_field(row: dict, name: str, where: str) -> str:
    value = row[name]
    if not isinstance(value, str):
        raise UserInputError(f'{where}: "{name}" must be a string, got {_JSON_TYPES[type(value)]}')
    if not visible_count(value):
        raise UserInputError(f'{where}: "{name}" is empty (nothing in it shows)')
    if surrogate_at(value) is not None:  # JSON can spell one ("\\ud800"); tokenizers cannot
        raise UserInputError(f'{where}: "{name}" contains a lone surrogate \\u escape')
    return value.strip()


def _qa_item(row: Any, where: str, group: str) -> Item:
    if not isinstance(row, dict):
        raise UserInputError(
            f'{where}: expected a JSON object like {{"question": "...", "answer": "..."}}, '
            f"got {_JSON_TYPES[type(row)]}"
        )
    unknown = [key for key in row if key not in _QA_FIELDS]
    if unknown:
        raise UserInputError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(_QA_FIELDS)}"
        )
    for name in ("question", "answer"):
        if name not in row:
            raise UserInputError(f'{where}: missing field "{name}"')
    accept = row.get("accept", [])
    if not isinstance(accept, list) or not all(isinstance(a, str) and a.strip() for a in accept):
        raise UserInputError(f'{where}: "accept" must be a list of non-empty strings')
    return Item(
        kind="qa",
        question=_string_field(row, "question", where),
        answer=_string_field(row, "answer", where),
        group=_string_field(row, "group", where) if "group" in row else group,
        accept=tuple(a.strip() for a in accept),
    )


def qa_from_jsonl(text: str, group: str = "custom") -> list[Item]:
    """JSONL, one {"question", "answer"[, "group", "accept"]} object per non-blank line."""
    lines = [
        (n, line) for n, line in enumerate(_check_text(text, group).split("\n"), 1) if line.strip()
    ]
    # Count before parsing, so an oversized file fails at once with the real number.
    if len(lines) > MAX_ITEMS:
        raise _too_many(len(lines), "question/answer pairs")
    items = []
    for number, line in lines:
        where = f"line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserInputError(f"{where}: invalid JSON ({err.msg}, column {err.colno})") from None
        except RecursionError:  # [[[[... nested deeper than Python's stack allows
            raise UserInputError(f"{where}: invalid JSON (nested too deeply)") from None
        except ValueError:  # an integer longer than Python's 4,300-digit conversion cap
            raise UserInputError(f"{where}: invalid JSON (a number has too many digits)") from None
        items.append(_qa_item(row, where, group))
    return items


def parse_custom_text(text: str, fmt: str = "auto", group: str = "custom") -> list[Item]:
    """Parse the user's text as plain text or JSONL; "auto" picks JSONL if it starts with "{"."""
    if fmt not in FORMATS:
        raise UserInputError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if fmt == "auto":
        first = next((line for line in _normalise(str(text)).split("\n") if line.strip()), "")
        fmt = "jsonl" if first.lstrip().startswith("{") else "text"
    return qa_from_jsonl(text, group) if fmt == "jsonl" else passages_from_text(text, group)


NOTHING_TO_FORGET = "nothing to forget"


def nothing_to_forget(found: dict) -> str:
    """Why a run on own text stops before training, and how to go on anyway."""
    return (
        f"{NOTHING_TO_FORGET}: the model does not know your text before unlearning "
        f"({found['summary']}). A run would only teach it to avoid what it never knew, at the "
        "cost of some of what it does know. Press Run again to go on anyway (the report "
        "records this check; on the command line, --even-if-unknown), or give it text it knows."
    )
