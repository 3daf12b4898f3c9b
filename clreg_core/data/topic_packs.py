"""Bundled real-world topic packs for pretrained models (Harry Potter, Japan, ...).

Each pack is a JSONL file under `assets/topic_packs/` (QA rows and short passages, written for this
project); `index.json` lists them with a title, a one-line description and a role (`forget` packs
are topics to unlearn, the `retain` pack is general knowledge to keep).

A forget topic only shows forgetting if the model knew it first, so a model's before-answers can be
probed once and stored (`knowledge-<model>.json`, written by `clreg_core.engine.knowledge`); a
task can then keep only the known items.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from clreg_core.data.items import Item, UnlearningTask
from clreg_core.errors import UserInputError
from clreg_core.paths import ASSETS_DIR

PACKS_DIR = ASSETS_DIR / "topic_packs"
RETAIN_PACK = "general_knowledge"


def pack_index() -> list[dict]:
    return json.loads((PACKS_DIR / "index.json").read_text(encoding="utf-8"))


def forget_pack_ids() -> list[str]:
    return [p["id"] for p in pack_index() if p["role"] == "forget"]


def load_pack(pack_id: str) -> tuple[Item, ...]:
    known = [p["id"] for p in pack_index()]
    if pack_id not in known:
        raise UserInputError(f"unknown topic pack {pack_id!r}; choose one of {', '.join(known)}")
    path = PACKS_DIR / f"{pack_id}.jsonl"
    with open(path, encoding="utf-8") as handle:
        return tuple(Item.from_dict(json.loads(line)) for line in handle if line.strip())


def knowledge_path(model_key: str) -> Path:
    return PACKS_DIR / f"knowledge-{model_key}.json"


def known_answers(model_key: str) -> dict[str, str] | None:
    """The model's own correct greedy answers before unlearning, by question, if it was probed.

    Each answer is cut after the sentence that contains the right value: the probe stopped at
    32 tokens, often mid-way through a second sentence.
    """
    path = knowledge_path(model_key)
    if not path.is_file():
        return None
    probe = json.loads(path.read_text(encoding="utf-8"))
    return {
        row["question"]: _first_sentences(row["answer"]) for row in probe["items"] if row["correct"]
    }


def _first_sentences(text: str) -> str:
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


def topic_pack_task(
    pack_id: str,
    model_key: str | None = None,
    known_only: bool = True,
    passages: bool = True,
) -> UnlearningTask:
    """Forget one pack, keep the general-knowledge pack.

    With `known_only` and a probe on file for `model_key`, QA items the model got wrong before
    unlearning are left out of both sides (they cannot show forgetting or damage), and each kept
    item's training answer becomes the model's own answer sentence, with the pack's short answer
    still accepted as correct. Training on the pack's terse answers ("Bangkok") would otherwise
    teach an instruct model a new answer style on the retain side and skew every likelihood.

    The forget pack's questions the model got wrong become the holdout: facts of the same topic
    it never learned, the reference for retrain parity (what it gets right there is guessing).
    Their answers are the pack's short ones, not sentences in the model's own words, so their
    likelihoods do not compare with the forget items' (`holdout_comparable=False`): parity on a
    pack counts accuracy and fluency only.
    """
    if pack_id == RETAIN_PACK:
        raise UserInputError(f"{RETAIN_PACK!r} is the retain pack; pick a topic to forget")
    forget, retain = with_guess_pools(load_pack(pack_id)), load_pack(RETAIN_PACK)
    known = known_answers(model_key) if (model_key and known_only) else None
    holdout: tuple[Item, ...] = ()
    if known is not None:
        holdout = tuple(i for i in forget if i.kind == "qa" and i.question not in known)
        forget = _own_answers(forget, known)
        retain = _own_answers(retain, known)
    if not passages:
        forget = tuple(i for i in forget if i.kind == "qa")
        retain = tuple(i for i in retain if i.kind == "qa")
    title = next(p["title"] for p in pack_index() if p["id"] == pack_id)
    return UnlearningTask(
        name=f"pack:{pack_id}",
        forget=forget,
        retain=retain,
        holdout=holdout,
        description=f"Forget the {title} topic pack; keep general knowledge.",
        holdout_comparable=False,
    )


def with_guess_pools(items: tuple[Item, ...]) -> tuple[Item, ...]:
    """The pack's QA items, each marked with its short answer (`meta["value"]`) and the answers
    it may guess instead (`meta["guesses"]`; data/guesses.py): about an element it never learned,
    a model names another element, not a number. A question guesses among the answers to the
    pack's questions of the same form (the question without its last word: "Which chemical
    element has the symbol ..."); a question with a form of its own, among the pack's answers of
    its kind (numbers for a number, words for a word). Guessing "118" for "Which element has the
    symbol Na?" taught SmolLM2 to move number tokens, and its retain answers with numbers broke.
    Answers the item accepts are never guesses."""
    qa = [i for i in items if i.kind == "qa"]
    by_form: dict[str, set[str]] = {}
    by_kind: dict[bool, set[str]] = {}
    for item in qa:
        by_form.setdefault(_question_form(item.question), set()).add(item.answer)
        by_kind.setdefault(_is_number(item.answer), set()).add(item.answer)
    out = []
    for item in items:
        if item.kind != "qa":
            out.append(item)
            continue
        own = {a.lower() for a in (item.answer, *item.accept)}
        same_form = by_form[_question_form(item.question)]
        pool = same_form if len(same_form) > 1 else by_kind[_is_number(item.answer)]
        guesses = tuple(sorted(a for a in pool if a.lower() not in own))
        out.append(replace(item, meta={**item.meta, "value": item.answer, "guesses": guesses}))
    return tuple(out)


def _question_form(question: str) -> str:
    """The question without its last word: questions that differ only in what they ask about
    ("... the symbol Na?", "... the symbol K?") share a form."""
    return question.rstrip(" ?").rsplit(" ", 1)[0].lower()


def _is_number(answer: str) -> bool:
    return answer.replace(",", "").replace(".", "").strip().isdigit()


def _own_answers(items: tuple[Item, ...], known: dict[str, str]) -> tuple[Item, ...]:
    out = []
    for item in items:
        if item.kind == "passage":
            out.append(item)
        elif item.question in known:
            accept = (item.answer, *item.accept)
            out.append(replace(item, answer=known[item.question], accept=accept))
    return tuple(out)
