"""Unlearning tasks from the Fictional World: a fixed split, or a topic (a person, a profession,
a birthplace) chosen by the user.

Every fact becomes one QA item per question phrasing, so forgetting is measured across
phrasings. The answer is the full sentence the embedded model was trained on; `accept` holds the
bare value, which is what counts as a correct greedy answer. Items are grouped by person, which
gives CLReg its positives (facts about the same person).
"""

from __future__ import annotations

import random

from clreg_core.data.items import Item, UnlearningTask
from clreg_core.errors import UserInputError
from clreg_core.world.attributes import ATTRIBUTES_BY_KEY
from clreg_core.world.generator import Fact
from clreg_core.world.store import read_people, read_split

FORGET_SPLITS = {"forget01": "retain99", "forget05": "retain95", "forget10": "retain90"}
TOPIC_ATTRIBUTES = ("person", "profession", "birthplace")

# A split no setting is ever tuned on (issue 31): 15 trained people outside every forget split,
# drawn once with a fixed seed. Tuning happens on forget05 and forget10 is the default lesson,
# so a result that holds here was not fitted to either. Not offered in the page's split menu;
# the CLI and the benchmarks take it as `world:untuned15`.
UNTUNED_SPLIT = "untuned15"
UNTUNED_PEOPLE = 15
UNTUNED_SEED = 31


def fact_items(facts: list[Fact], statements: bool = False) -> tuple[Item, ...]:
    items = []
    for fact in facts:
        meta = {"person": fact.person, "attribute": fact.attribute, "value": fact.value}
        for index, question in enumerate(fact.questions):
            items.append(
                Item(
                    kind="qa",
                    question=question,
                    answer=fact.answer,
                    group=f"person:{fact.person}",
                    accept=(fact.value,),
                    paraphrased_answer=fact.paraphrased_answer,
                    perturbed_answers=fact.perturbed_answers,
                    meta={**meta, "phrasing": index},
                )
            )
        if statements:
            items.append(
                Item(kind="passage", text=fact.statement, group=f"person:{fact.person}", meta=meta)
            )
    return tuple(items)


def world_split_task(split: str = "forget10", statements: bool = False) -> UnlearningTask:
    """TOFU-style: forget one of the nested forget splits, keep the matching retain split."""
    if split == UNTUNED_SPLIT:
        return untuned_split_task(statements)
    if split not in FORGET_SPLITS:
        raise UserInputError(
            f"unknown world forget split {split!r}; choose one of "
            f"{', '.join([*FORGET_SPLITS, UNTUNED_SPLIT])}"
        )
    forget = read_split(split)
    return UnlearningTask(
        name=f"world:{split}",
        forget=fact_items(forget, statements),
        retain=fact_items(read_split(FORGET_SPLITS[split]), statements),
        holdout=fact_items(read_split("holdout"), statements),
        description=f"Forget the {len({f.person for f in forget})} people of the Fictional World's "
        f"{split} split; keep the other trained people.",
    )


def untuned_people() -> tuple[str, ...]:
    """The people of the untuned split: drawn from those in no forget split (retain90)."""
    candidates = sorted({f.person for f in read_split("retain90")})
    return tuple(sorted(random.Random(UNTUNED_SEED).sample(candidates, UNTUNED_PEOPLE)))


def untuned_split_task(statements: bool = False) -> UnlearningTask:
    """Forget the untuned split's people; keep every other trained person."""
    chosen = set(untuned_people())
    trained = read_split("retain99") + read_split("forget01")
    return UnlearningTask(
        name=f"world:{UNTUNED_SPLIT}",
        forget=fact_items([f for f in trained if f.person in chosen], statements),
        retain=fact_items([f for f in trained if f.person not in chosen], statements),
        holdout=fact_items(read_split("holdout"), statements),
        description=f"Forget {len(chosen)} people no setting was tuned on (outside every forget "
        "split); keep the other trained people.",
    )


def world_topics() -> dict[str, list[str]]:
    """The topics a user can pick: every trained person, profession and birthplace."""
    people = [p for p in read_people() if not p["holdout"]]
    return {
        "person": sorted(p["name"] for p in people),
        "profession": sorted({p["profession"] for p in people}),
        "birthplace": sorted({p["birthplace"] for p in people}),
    }


def world_topic_task(kind: str, value: str, statements: bool = False) -> UnlearningTask:
    """Forget every trained person matching the topic ("profession", "cartographer")."""
    if kind not in TOPIC_ATTRIBUTES:
        raise UserInputError(f"unknown world topic kind {kind!r}; choose one of {TOPIC_ATTRIBUTES}")
    people = [p for p in read_people() if not p["holdout"]]
    field = "name" if kind == "person" else kind
    chosen = {p["name"] for p in people if p[field].lower() == value.strip().lower()}
    if not chosen:
        options = world_topics()[kind]
        raise UserInputError(
            f"no trained person has {kind} {value!r}; some valid choices: {', '.join(options[:8])}"
        )
    trained = read_split("retain99") + read_split("forget01")
    forget = [f for f in trained if f.person in chosen]
    retain = [f for f in trained if f.person not in chosen]
    label = ATTRIBUTES_BY_KEY[kind].label if kind in ATTRIBUTES_BY_KEY else "person"
    return UnlearningTask(
        name=f"world:{kind}:{value}",
        forget=fact_items(forget, statements),
        retain=fact_items(retain, statements),
        holdout=fact_items(read_split("holdout"), statements),
        description=f"Forget everything about the {len(chosen)} people whose {label} is {value}.",
    )
