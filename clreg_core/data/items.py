"""The data every unlearning task is made of.

An `Item` is either a question/answer pair or a passage of text. A task is three lists of items:
what to forget, what to keep, and (when there is one) a holdout the model never saw, which the
privacy metrics compare the forget set against. Everything downstream (losses, metrics, the app)
sees only these types, whatever the source was: the invented world, a topic pack, the user's text
or a hub dataset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from clreg_core.errors import UserInputError

ItemKind = Literal["qa", "passage"]


@dataclass(frozen=True)
class Item:
    """One unit of training/evaluation data.

    For `qa` items, `question` and `answer` are set and `text` is empty; for `passage` items only
    `text` is set. `group` is the entity or topic the item is about ("person:Ilsa Marrowdene",
    "profession:cartographer"); CLReg uses it to pick contrastive positives. `accept` lists other
    strings that count as a correct answer (aliases); `paraphrased_answer` and `perturbed_answers`
    exist for the world data so that truth ratios can be computed.
    """

    kind: ItemKind
    question: str = ""
    answer: str = ""
    text: str = ""
    group: str | None = None
    accept: tuple[str, ...] = ()
    paraphrased_answer: str = ""
    perturbed_answers: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind == "qa":
            if not self.question.strip() or not self.answer.strip():
                raise UserInputError(
                    f"a question/answer item needs both a question and an answer, got "
                    f"question={self.question!r}, answer={self.answer!r}"
                )
        elif self.kind == "passage":
            if not self.text.strip():
                raise UserInputError("a passage item needs non-empty text")
        else:
            raise UserInputError(f"item kind must be 'qa' or 'passage', got {self.kind!r}")

    @property
    def accepted_answers(self) -> tuple[str, ...]:
        """Every string whose presence in a generation counts as the right answer."""
        return (self.answer, *self.accept) if self.kind == "qa" else ()

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["accept"] = list(self.accept)
        row["perturbed_answers"] = list(self.perturbed_answers)
        return {k: v for k, v in row.items() if v not in ("", (), [], None, {})}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Item:
        known = {
            "kind",
            "question",
            "answer",
            "text",
            "group",
            "accept",
            "paraphrased_answer",
            "perturbed_answers",
            "meta",
        }
        unknown = set(row) - known
        if unknown:
            raise UserInputError(f"unknown item field(s) {sorted(unknown)}; known: {sorted(known)}")
        row = dict(row)
        row["accept"] = tuple(row.get("accept", ()))
        row["perturbed_answers"] = tuple(row.get("perturbed_answers", ()))
        return cls(**row)


@dataclass(frozen=True)
class UnlearningTask:
    """What to forget, what to keep, and what the model never saw.

    `holdout` is empty when the source has none (the user's text); membership inference and
    retrain parity then cannot be measured and the metrics say so instead of inventing a
    baseline. `holdout_comparable` is False when holdout answers are not phrased like the forget
    answers (a pack's short answers against a chat model's own sentences): their likelihoods do
    not compare, so only accuracies may be set side by side.
    """

    name: str
    forget: tuple[Item, ...]
    retain: tuple[Item, ...]
    holdout: tuple[Item, ...] = ()
    description: str = ""
    holdout_comparable: bool = True

    def __post_init__(self) -> None:
        if not self.forget:
            raise UserInputError(f"task {self.name!r} has no forget items")
        if not self.retain:
            raise UserInputError(f"task {self.name!r} has no retain items")

    @property
    def groups(self) -> tuple[str, ...]:
        """The distinct forget groups, in first-seen order."""
        return tuple(dict.fromkeys(i.group for i in self.forget if i.group is not None))

    def summary(self) -> str:
        return (
            f"{self.name}: {len(self.forget)} forget, {len(self.retain)} retain, "
            f"{len(self.holdout)} holdout items"
        )

    def to_datasets(self):
        """The three splits as a `datasets.DatasetDict` (for users who want the HF tooling)."""
        from datasets import Dataset, DatasetDict

        splits = {"forget": self.forget, "retain": self.retain, "holdout": self.holdout}
        return DatasetDict(
            {
                name: Dataset.from_list([_flat_row(i) for i in items])
                for name, items in splits.items()
                if items
            }
        )


def _flat_row(item: Item) -> dict[str, Any]:
    """A row with every column present, so `datasets` infers one schema for the split."""
    return {
        "kind": item.kind,
        "question": item.question,
        "answer": item.answer,
        "text": item.text,
        "group": item.group or "",
        "accept": list(item.accept),
        "paraphrased_answer": item.paraphrased_answer,
        "perturbed_answers": list(item.perturbed_answers),
    }
