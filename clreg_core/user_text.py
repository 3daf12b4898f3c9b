"""Text a user typed or uploaded, made comparable and judged by what it shows.

Text is normalised to NFC, so the same words typed on two keyboards compare equal. It is judged
by its visible characters: a question or a passage made only of spaces and invisible characters
(zero-width spaces and joiners, byte-order marks, direction marks: Unicode's format and control
categories) says nothing, and is refused like an empty one. A lone surrogate is no character at
all (JSON can carry one, UTF-8 cannot) and is refused with a message rather than failing later.
"""

from __future__ import annotations

import unicodedata

from clreg_core.errors import UserInputError

# Categories that show nothing: separators (spaces, line and paragraph breaks), control
# characters, format characters (zero-width space and joiners, BOM, bidi marks), unassigned.
INVISIBLE = {"Zs", "Zl", "Zp", "Cc", "Cf", "Cn", "Co"}


def surrogate_at(text: str) -> int | None:
    """The index of the first lone surrogate in `text`, or None."""
    for index, char in enumerate(text):
        if 0xD800 <= ord(char) <= 0xDFFF:
            return index
    return None


def normalised(text: str, what: str) -> str:
    """`text` in NFC; `UserInputError` naming `what` if it holds a lone surrogate."""
    index = surrogate_at(text)
    if index is not None:
        raise UserInputError(
            f"{what} holds a broken character at position {index + 1} (an unpaired UTF-16 "
            f"surrogate, U+{ord(text[index]):04X}): it is not valid text; type or paste it again"
        )
    return unicodedata.normalize("NFC", text)


def visible_count(text: str) -> int:
    """How many of `text`'s characters show on screen."""
    return sum(unicodedata.category(char) not in INVISIBLE for char in text)


def meaningful(text: str, what: str) -> str:
    """`text` normalised and stripped; `UserInputError` if nothing of it shows."""
    text = normalised(text, what).strip()
    if not visible_count(text):
        said = "is empty" if not text else "has no visible characters (only invisible ones)"
        raise UserInputError(f"{what} {said}")
    return text
