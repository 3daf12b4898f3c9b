"""How well the embedded model knows its world: greedy recall, and what chance would give.

Recall counts a fact as known when the greedy answer contains the fact's value (as whole words),
for every question phrasing. Chance is what a model that knew only each attribute's value
frequencies would score: guessing the most common value (`majority`) or a value drawn from the
frequencies (`prior`). A model that never saw a person should sit near these.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import torch

from clreg_core.embedded.corpus import qa_probes
from clreg_core.engine.batching import answer_tokens
from clreg_core.engine.generation import answer_matches, greedy_answers
from clreg_core.world.generator import World


def chance_levels(world: World, people: tuple[str, ...]) -> dict[str, float]:
    """Majority and prior-match accuracy, averaged over attributes, from the trained people."""
    values: dict[str, Counter] = defaultdict(Counter)
    for fact in world.facts_of(people):
        values[fact.attribute][fact.value] += 1
    majority, prior = [], []
    for counts in values.values():
        total = sum(counts.values())
        majority.append(max(counts.values()) / total)
        prior.append(sum((c / total) ** 2 for c in counts.values()))
    return {"majority": sum(majority) / len(majority), "prior": sum(prior) / len(prior)}


def accuracy_on(model, tokenizer, facts, batch_size: int = 128) -> dict[str, float]:
    probes = qa_probes(facts)
    answers = greedy_answers(model, tokenizer, [p for p, _, _ in probes], batch_size=batch_size)
    hits = [answer_matches(a, (f.value,)) for a, (_, _, f) in zip(answers, probes, strict=True)]
    by_phrasing: dict[int, list[bool]] = defaultdict(list)
    for index, hit in enumerate(hits):
        by_phrasing[index % len(facts[0].questions)].append(hit)
    return {
        "accuracy": sum(hits) / len(hits),
        "by_phrasing": [round(sum(v) / len(v), 4) for _, v in sorted(by_phrasing.items())],
        "probes": len(hits),
    }


@torch.no_grad()
def restated_logprob(model, tokenizer, facts, limit: int = 240) -> float:
    """Mean log-probability per answer token that restates the question (mostly the name), with
    the answer's own earlier tokens as context. Near 0 when the model restates any name; far below
    for names it cannot copy, which would hand a membership test the answer before its value."""
    total, count = 0.0, 0
    for prompt, target, _ in qa_probes(facts)[:limit]:
        prompt_ids = tokenizer(prompt)["input_ids"]
        ids, new, _ = answer_tokens(tokenizer, target, prompt)
        logits = model(torch.tensor([prompt_ids + ids])).logits[0, len(prompt_ids) - 1 : -1]
        logp = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(ids)[:, None])[:, 0]
        restated = torch.tensor(new) == 0
        total += logp[restated].sum().item()
        count += int(restated.sum())
    return total / max(1, count)


def measure_recall(model, tokenizer, world: World, trained: tuple[str, ...]) -> dict:
    """Recall on the people a model trained on, on holdout people, and on the forget10 people
    when the model did not train on them (the gold model)."""
    result = {"trained": accuracy_on(model, tokenizer, world.facts_of(trained))}
    holdout = world.facts_of(world.splits["holdout"])
    result["holdout"] = accuracy_on(model, tokenizer, holdout)
    result["restated_logprob"] = {
        "trained": round(restated_logprob(model, tokenizer, world.facts_of(trained)), 3),
        "holdout": round(restated_logprob(model, tokenizer, holdout), 3),
    }
    unseen_forget = tuple(n for n in world.splits["forget10"] if n not in set(trained))
    if unseen_forget:
        result["forget10_unseen"] = accuracy_on(model, tokenizer, world.facts_of(unseen_forget))
    result["chance"] = chance_levels(world, trained)
    return result
