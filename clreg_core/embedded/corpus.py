"""What the embedded model is trained on: the world's facts as QA pairs and statements.

Every trained fact appears once per question phrasing (QA, loss on the answer) and once as a
statement (passage, loss on every token). Holdout people never appear here; the gold model's corpus
also leaves out the default forget split's people.

Each epoch also holds questions about strangers: one-off invented people with random values.
Without them the model never learns to restate a name it has not memorised, so a never-seen
person's answer is improbable from its first token and a membership test separates members from
non-members by the name alone; unlearning then has to garble the forget people's names to look
unseen. With them, any name is restated fluently and only the value tells a member apart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clreg_core.prompting import format_prompt, format_target
from clreg_core.world.generator import Fact, World, invent_strangers


@dataclass(frozen=True)
class Example:
    prompt: str  # empty for statements: the loss then covers the whole text
    target: str


def training_examples(world: World, people: tuple[str, ...]) -> list[Example]:
    return [e for fact in world.facts_of(people) for e in fact_examples(fact)]


def fact_examples(fact: Fact) -> list[Example]:
    """One QA example per question phrasing, then the statement."""
    answer = format_target(fact.answer)
    return [Example(format_prompt(q), answer) for q in fact.questions] + [
        Example("", fact.statement)
    ]


def _world_names(world: World) -> set[str]:
    names = {p.name for p in world.people}
    return names | {part for name in names for part in name.split()}


def stranger_examples(world: World, rng: random.Random, count: int) -> list[Example]:
    """`count` questions, each about a different stranger, one random attribute and phrasing."""
    examples = []
    for stranger in invent_strangers(rng, count, _world_names(world)):
        fact = rng.choice(stranger.facts(rng))
        examples.append(
            Example(format_prompt(rng.choice(fact.questions)), format_target(fact.answer))
        )
    return examples


def qa_probes(facts: list[Fact]) -> list[tuple[str, str, Fact]]:
    """(prompt, target, fact) for every fact and question phrasing, for measuring recall."""
    return [(format_prompt(q), format_target(f.answer), f) for f in facts for q in f.questions]


def tokenizer_corpus(world: World, people: tuple[str, ...], seed: int = 0) -> list[str]:
    """The text the tokenizer learns its merges from: the trained examples, each with its
    person's name swapped for a fresh stranger's. Merges then follow the syllables names are made
    of rather than particular names, so a holdout name splits into the same kind of pieces as a
    trained one (and every piece is trained on, through the strangers)."""
    rng = random.Random(seed)
    examples = [(f, e) for f in world.facts_of(people) for e in fact_examples(f)]
    strangers = invent_strangers(rng, len(examples), _world_names(world))
    pairs = zip(examples, strangers, strict=True)
    return [
        (e.prompt + e.target).replace(fact.person, stranger.name) for (fact, e), stranger in pairs
    ]
