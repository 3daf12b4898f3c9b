"""What the embedded model is trained on: the world's facts as QA pairs and statements.

Every trained fact appears once per question phrasing (QA, loss on the answer) and once as a
statement (passage, loss on every token). Holdout people never appear here; the gold model's corpus
also leaves out the default forget split's people.
"""

from __future__ import annotations

from dataclasses import dataclass

from clreg_core.prompting import format_prompt, format_target
from clreg_core.world.generator import Fact, World


@dataclass(frozen=True)
class Example:
    prompt: str  # empty for statements: the loss then covers the whole text
    target: str


def training_examples(world: World, people: tuple[str, ...]) -> list[Example]:
    examples = []
    for fact in world.facts_of(people):
        for question in fact.questions:
            examples.append(Example(format_prompt(question), format_target(fact.answer)))
        examples.append(Example("", fact.statement))
    return examples


def qa_probes(facts: list[Fact]) -> list[tuple[str, str, Fact]]:
    """(prompt, target, fact) for every fact and question phrasing, for measuring recall."""
    return [(format_prompt(q), format_target(f.answer), f) for f in facts for q in f.questions]


def tokenizer_corpus(world: World, people: tuple[str, ...]) -> list[str]:
    """The text the tokenizer learns its merges from (the trained people only)."""
    return [e.prompt + e.target for e in training_examples(world, people)]
