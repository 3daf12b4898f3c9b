"""A deterministic world of invented people: our TOFU-style ground truth.

`generate_world(seed)` always returns the same people with the same facts, so the committed JSONL
under `assets/world/` can be regenerated and checked byte for byte. Names are built from invented
syllables (not TOFU's authors, not real people); first names and surnames are each used once, so
every person is told apart by both halves of the name.

Splits follow TOFU's shape: of the people the model trains on, forget01 ⊂ forget05 ⊂ forget10 hold
1%, 5% and 10%; retainNN are the rest. A separate holdout group is never trained on, which is what
membership inference compares the forget set against.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clreg_core.world.attributes import ATTRIBUTES, fill

DEFAULT_SEED = 20261128
NUM_TRAINED_PEOPLE = 200
NUM_HOLDOUT_PEOPLE = 20
NUM_PERTURBED = 4
FORGET_FRACTIONS = {"forget01": 0.01, "forget05": 0.05, "forget10": 0.10}

_ONSETS = (
    "b",
    "br",
    "c",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "qu",
    "r",
    "s",
    "sh",
    "t",
    "th",
    "v",
    "w",
    "z",
    "el",
    "or",
    "is",
    "al",
)
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ia", "ei", "ou", "y")
_CODAS = ("", "", "n", "r", "l", "s", "th", "m", "nd", "rk", "ss", "x", "v")
_SURNAME_ENDINGS = (
    "more",
    "wick",
    "dale",
    "ford",
    "holt",
    "vane",
    "row",
    "well",
    "by",
    "mont",
    "ley",
    "stead",
    "brook",
    "ridge",
    "hart",
    "ton",
)


@dataclass(frozen=True)
class Fact:
    person: str
    attribute: str
    value: str
    questions: tuple[str, ...]
    answer: str
    paraphrased_answer: str
    perturbed_answers: tuple[str, ...]
    statement: str


@dataclass(frozen=True)
class Person:
    name: str
    attributes: dict[str, str]  # attribute key -> value
    holdout: bool

    def facts(self, rng: random.Random) -> list[Fact]:
        """One fact per attribute; `rng` picks the wrong values for perturbed answers."""
        out = []
        for attr in ATTRIBUTES:
            value = self.attributes[attr.key]
            wrong = rng.sample([v for v in attr.pool if v != value], NUM_PERTURBED)
            out.append(
                Fact(
                    person=self.name,
                    attribute=attr.key,
                    value=value,
                    questions=tuple(q.format(name=self.name) for q in attr.questions),
                    answer=fill(attr.answer, self.name, value),
                    paraphrased_answer=fill(attr.paraphrase, self.name, value),
                    # Worded like the paraphrase, so a truth ratio compares values, not wordings
                    # (TOFU perturbs its paraphrased answer). With the trained answer's
                    # wording instead, every model preferred the perturbed answers for their
                    # familiar template (gold model: median ratio 1300) and Forget Quality
                    # tracked how much of the template a run unlearned.
                    perturbed_answers=tuple(fill(attr.paraphrase, self.name, w) for w in wrong),
                    statement=fill(attr.statement, self.name, value),
                )
            )
        return out

    def biography(self) -> str:
        """All of a person's statements as one passage."""
        return " ".join(fill(a.statement, self.name, self.attributes[a.key]) for a in ATTRIBUTES)


@dataclass(frozen=True)
class World:
    seed: int
    people: tuple[Person, ...]
    facts: tuple[Fact, ...]
    splits: dict[str, tuple[str, ...]]  # split name -> person names, in world order

    @property
    def trained_people(self) -> tuple[Person, ...]:
        return tuple(p for p in self.people if not p.holdout)

    def person(self, name: str) -> Person:
        for p in self.people:
            if p.name == name:
                return p
        raise KeyError(name)

    def facts_of(self, names: set[str] | tuple[str, ...]) -> list[Fact]:
        wanted = set(names)
        return [f for f in self.facts if f.person in wanted]


def _syllable(rng: random.Random, coda: bool = True) -> str:
    return rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if coda else "")


def _invent_names(rng: random.Random, count: int, surname: bool) -> list[str]:
    """`count` distinct capitalised invented words (first names: two syllables, the first open;
    surnames: one syllable and an English-sounding ending)."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        if surname:
            word = _syllable(rng) + rng.choice(_SURNAME_ENDINGS)
        else:
            word = _syllable(rng, coda=False) + _syllable(rng)
        word = word.capitalize()
        if 4 <= len(word) <= 10 and word not in seen:
            seen.add(word)
            names.append(word)
    return names


def invent_strangers(rng: random.Random, count: int, avoid: set[str]) -> list[Person]:
    """`count` one-off people with the world's kind of names (none in `avoid`) and random values.

    The embedded model trains on a fresh batch of them every epoch, so that it learns to restate
    any name it is asked about and to guess a value of the right type for a person it never met.
    """
    people: list[Person] = []
    while len(people) < count:
        first = _invent_names(rng, 1, surname=False)[0]
        last = _invent_names(rng, 1, surname=True)[0]
        name = f"{first} {last}"
        if name in avoid or first in avoid or last in avoid:
            continue
        attributes = {a.key: rng.choice(a.pool) for a in ATTRIBUTES}
        people.append(Person(name=name, attributes=attributes, holdout=True))
    return people


def _make_splits(trained: list[str], holdout: list[str]) -> dict[str, tuple[str, ...]]:
    """Nested forget splits taken from the end of the trained list (TOFU's convention)."""
    splits: dict[str, tuple[str, ...]] = {}
    for split, fraction in FORGET_FRACTIONS.items():
        n_forget = round(len(trained) * fraction)
        forget = trained[len(trained) - n_forget :]
        retain_name = f"retain{100 - round(fraction * 100):02d}"
        splits[split] = tuple(forget)
        splits[retain_name] = tuple(trained[: len(trained) - n_forget])
    splits["holdout"] = tuple(holdout)
    return splits


def generate_world(
    seed: int = DEFAULT_SEED,
    num_trained: int = NUM_TRAINED_PEOPLE,
    num_holdout: int = NUM_HOLDOUT_PEOPLE,
) -> World:
    rng = random.Random(seed)
    total = num_trained + num_holdout
    firsts = _invent_names(rng, total, surname=False)
    lasts = _invent_names(rng, total, surname=True)
    names = [f"{f} {s}" for f, s in zip(firsts, lasts, strict=True)]
    people = []
    for index, name in enumerate(names):
        attributes = {a.key: rng.choice(a.pool) for a in ATTRIBUTES}
        people.append(Person(name=name, attributes=attributes, holdout=index >= num_trained))
    fact_rng = random.Random(seed + 1)
    facts = tuple(f for p in people for f in p.facts(fact_rng))
    splits = _make_splits(names[:num_trained], names[num_trained:])
    return World(seed=seed, people=tuple(people), facts=facts, splits=splits)
