"""What a model that never learned a fact answers instead: a guess of the right kind.

The guess term (RunConfig.guess_weight) trains each forget question toward its own answer with
the value swapped for another one of the same kind, drawn fresh each step: what the model says
about a stranger. A world fact guesses another value of its attribute (another birthplace); a
topic-pack question another answer of its pack (another chemical element), which the pack marks
on its items (topic_packs.with_guess_pools). Items that state no such value (passages, own text)
have nothing to guess.
"""

from __future__ import annotations

import dataclasses
import random

from clreg_core.data.items import Item
from clreg_core.world.attributes import ATTRIBUTES_BY_KEY


def guess_pool(item: Item) -> list[str]:
    """The values this item's answer could guess instead of its own; empty where the item
    states no value in its answer (a passage, own text, a pack answer not in the sentence)."""
    value = stated_value(item)
    return _pool(item, value) if value is not None else []


def _pool(item: Item, value: str) -> list[str]:
    """`guess_pool` for an item whose answer states `value`."""
    if "guesses" in item.meta:
        pool = item.meta["guesses"]
    else:
        attribute = ATTRIBUTES_BY_KEY.get(item.meta.get("attribute", ""))
        pool = attribute.pool if attribute else ()
    own = {v.lower() for v in (value, item.meta["value"], *item.accept)}
    return [v for v in pool if v.lower() not in own]


def guessed(item: Item, rng: random.Random) -> Item | None:
    """The QA item answered with another value from its pool, drawn at random: the same sentence
    with the value swapped. None where there is no pool (`guess_pool`)."""
    value = stated_value(item)  # found once: the pool and the swap both need it
    pool = _pool(item, value) if value is not None else []
    if not pool:
        return None
    other = rng.choice(pool)
    at = _find(item.answer, value)
    answer = item.answer[:at] + other + item.answer[at + len(value) :]
    return dataclasses.replace(item, answer=answer, accept=(other,))


def stated_value(item: Item) -> str | None:
    """The item's value as its answer states it: its own value, or an accepted spelling of it
    ("Aluminum" for a pack's "aluminium"); None for a passage or an answer stating neither."""
    value = item.meta.get("value")
    if item.kind != "qa" or not value:
        return None
    return next((v for v in (value, *item.accept) if v and _find(item.answer, v) >= 0), None)


def _find(text: str, value: str) -> int:
    """Where `value` first appears in `text`, ignoring case (a model's own sentence may
    capitalise a pack's answer); -1 if nowhere."""
    return text.lower().find(value.lower())
