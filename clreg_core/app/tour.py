"""The guided tour, in the chosen topic's own words.

What a class is told to look at depends on the topic: people of the invented world are judged
against strangers (a membership AUC falls into a band) and, on the split the gold model never
saw, against that model; a topic pack's questions, or the user's own text, have no strangers of
their kind and no gold model, so parity is judged on answers right against the never-learned
level and on fluency, shown as a distance. A tour that taught the AUC on a pack run had the
class looking for a band the chart does not draw.
"""

from __future__ import annotations

from dataclasses import dataclass

from clreg_core.data.topic_packs import pack_index
from clreg_core.models.registry import REGISTRY

# (the elements each step's "Show me" points at), in step order
TOUR_TARGETS: tuple[tuple[str, ...], ...] = (
    ("run", "scatter", "curves"),
    ("metrics", "generations"),
    ("ab", "progress"),
    ("suggested", "answers", "runs"),
    ("check", "relearn-check", "relearning"),
)


@dataclass(frozen=True)
class Topic:
    """How the tour names a topic and what its parity is judged against."""

    forget: str  # "the people to forget", "the *Japan* questions"
    kind: str  # "world", "pack" or "own"
    has_gold: bool


def topic_of(model: str, task: str) -> Topic:
    has_gold = any(spec.key == model and spec.gold_for(task or "") for spec in REGISTRY)
    task = task or ""
    if task.startswith("pack:"):
        titles = {p["id"]: p["title"] for p in pack_index()}
        title = titles.get(task.removeprefix("pack:"), task.removeprefix("pack:"))
        return Topic(f"the *{title}* questions", "pack", has_gold)
    if task == "custom":
        return Topic("the facts of your own text", "own", has_gold)
    return Topic("the people to forget", "world", has_gold)


def _watch(topic: Topic) -> str:
    start = (
        "**1 · Watch it forget.** Press **Run** with the defaults. In *Representations*, red "
        f"dots are {topic.forget}, blue ones questions to keep. "
    )
    if topic.kind == "world":
        return start + (
            "In *Curves*, the parity AUC falls into the green band: there the forget people "
            "look like strangers to the model, and training stops."
        )
    return start + (
        "In *Curves*, the distance to parity falls to 1 or below: the model gets no more of "
        f"{topic.forget} right than of questions it never knew, and answers them as fluently; "
        "there training stops. (No membership AUC here: there is no never-seen set of the "
        "same kind to compare with.)"
    )


def _gold(topic: Topic) -> str:
    start = "**2 · Compare with the target.** When the run ends, "
    if topic.has_gold:
        return start + (
            "set the *after* column of the metrics table beside the *gold* column: the gold "
            "model never saw the forget people, so its numbers are the target, not zero. That "
            "holds for the representation rows too: a model that never saw them still tells the "
            "forget people from known ones, but not from strangers (*representation membership* "
            "near 0.5). In the probe answers, good unlearning answers fluently and wrongly, as "
            "the gold model does; a word repeated over and over is a collapse."
        )
    target = (
        "strangers of the invented world" if topic.kind == "world" else "questions it never knew"
    )
    return start + (
        "read the *after* column of the metrics table: there is no gold model for this topic, "
        f"so the target is how the original model does on {target}, not zero. In the probe "
        f"answers about {topic.forget}, good unlearning answers fluently and wrongly; a word "
        "repeated over and over, or words that make no sentence, is a collapse "
        "(the *forget answers not well-formed* row counts them)."
    )


def _ab(topic: Topic) -> str:
    bars = (
        "Its gold bars are a model that never saw the forget people: apart further than gold is "
        "a new shape, not forgetting."
        if topic.has_gold
        else "There is no gold model for this topic, so the chart has no target bars: read it "
        "as where the two runs differ, not as how far is enough."
    )
    return (
        "**3 · A/B.** Press **A/B** to train NPO alone, then NPO + CLReg, on the same data and "
        f"seed. After both, the per-layer chart shows where CLReg pulled {topic.forget} and "
        "the retain questions apart: it acts on one block (marked), the others show whether the "
        f"change spread. {bars}"
    )


def _ask(topic: Topic) -> str:
    who = (
        "the original, the unlearned and the gold model"
        if topic.has_gold
        else ("the original and the unlearned model")
    )
    return (
        "**4 · Ask.** Pick a suggested question (or type one) and press **Ask**: "
        f"{who} answer side by side. *Runs in this tab* reopens any earlier run, or two side by "
        "side."
    )


def _relearn(topic: Topic) -> str:
    if topic.has_gold:
        never = "the gold model, which never learned them"
    elif topic.kind == "world":
        never = "the original model attacked the same way on facts about strangers"
    else:
        never = "the original model attacked the same way on questions it never knew"
    return (
        "**5 · Gone, or only hidden?** First predict: after unlearning, an attacker fine-tunes "
        f"the model for 20 steps on *half* of {topic.forget}. Will it then know the *other* "
        "half? After a run (or an A/B pair), press **Gone or only hidden?** (or tick the box "
        "before Run). The chart shows its recall of the facts it was not shown at every step, "
        f"beside {never}: far above it, the facts were only hidden, not removed."
    )


def tour_steps(model: str, task: str) -> list[str]:
    """The five steps' texts for a run of `model` on `task`."""
    topic = topic_of(model, task)
    return [step(topic) for step in (_watch, _gold, _ab, _ask, _relearn)]
