"""TOFU and MUSE, the public unlearning benchmarks, as CLReg tasks.

Both load through `datasets`, from the Hugging Face hub or from a local folder in the same schema.

TOFU (`locuslab/TOFU`; one JSON-lines file per config, each config has a single split "train"):
  - forget01 / forget05 / forget10: columns `question`, `answer` (dataset card's config list).
  - forgetNN_perturbed, retain_perturbed: the same rows plus `paraphrased_answer` (str) and
    `perturbed_answer` (list of str); TOFU's own config/eval_everything.yaml reads them with
    base_answer_key=paraphrased_answer, perturbed_answer_key=perturbed_answer.
  - retain99 / retain95 / retain90 pair with forget01 / 05 / 10; holdout01 / 05 / 10 hold
    questions about authors the model never saw (open-unlearning's tofu configs use
    `name: holdout10, split: train`). The holdout files arrived on the hub later than the rest,
    so a source without them still loads, with an empty holdout.
  - No column names the author, so TOFU items have `group=None`.
MUSE (`muse-bench/MUSE-News`, `muse-bench/MUSE-Books`; dataset cards and open-unlearning):
  - "knowmem": splits `forget_qa`, `retain_qa` (`retain2_qa` in early hub revisions), columns
    `question`, `answer`. No holdout.
  - "raw": splits `forget`, `retain1`, `retain2`, `holdout`, column `text`. We use `retain1` (the
    set open-unlearning trains against as the retain split); `retain2` is MUSE's evaluation set.

Local folder layout (what `tests/fixtures/tofu` and `tests/fixtures/muse` look like):
`<folder>/<config>/<split>.jsonl`, one JSON object per line with the columns above, e.g.
`tofu/forget01/train.jsonl`, `tofu/forget01_perturbed/train.jsonl`, `muse/raw/forget.jsonl`,
`muse/knowmem/retain_qa.jsonl`. A local folder never touches the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clreg_core.data.custom_text import split_into_passages
from clreg_core.data.items import Item, UnlearningTask
from clreg_core.errors import UserInputError
from clreg_core.hub import require_hub

TOFU_SOURCE = "locuslab/TOFU"
TOFU_SPLITS = {  # forget config -> (retain config, holdout config)
    "forget01": ("retain99", "holdout01"),
    "forget05": ("retain95", "holdout05"),
    "forget10": ("retain90", "holdout10"),
}
MUSE_SOURCES = {"news": "muse-bench/MUSE-News", "books": "muse-bench/MUSE-Books"}
MUSE_USES = ("knowmem", "raw")
MAX_ITEMS_PER_SPLIT = 200  # keeps a MUSE task small enough for CPU runs
PASSAGE_CHARS = 600
OFFLINE_ALTERNATIVES = "the Fictional World splits and the bundled topic packs"


def load_tofu(
    split: str = "forget10", source: str = TOFU_SOURCE, max_retain: int | None = None
) -> UnlearningTask:
    """TOFU's forget split, its matching retain split and holdout, as question/answer items.

    `max_retain` keeps that many retain items, spread evenly over the split (retain90 has 3600).
    """
    if split not in TOFU_SPLITS:
        raise UserInputError(f"TOFU split must be one of {sorted(TOFU_SPLITS)}, got {split!r}")
    if max_retain is not None and max_retain < 1:
        raise UserInputError(f"max_retain must be at least 1, got {max_retain}")
    retain_config, holdout_config = TOFU_SPLITS[split]
    src = _Source(source, f"Loading TOFU {split} from {source}")
    qa = ("question", "answer")
    forget = src.load(split, "train", qa)
    retain = _spread(src.load(retain_config, "train", qa), max_retain)
    holdout = src.load(holdout_config, "train", qa, optional=True)
    # The perturbed configs carry the answers truth ratios need; merge them in by question.
    forget_extras = src.load(f"{split}_perturbed", "train", qa, optional=True)
    retain_extras = src.load("retain_perturbed", "train", qa, optional=True)
    return UnlearningTask(
        name=f"TOFU {split}",
        forget=_qa_items(forget, forget_extras),
        retain=_qa_items(retain, retain_extras),
        holdout=_qa_items(holdout) if holdout is not None else (),
        description=(
            f"TOFU ({source}): questions about fictitious authors. Forget {split}, retain "
            f"{retain_config}, holdout {holdout_config if holdout is not None else '(none)'}."
        ),
    )


def load_muse(
    corpus: str = "news", source: str | None = None, use: str = "knowmem"
) -> UnlearningTask:
    """MUSE News or Books: "knowmem" gives question/answer items, "raw" gives text passages.

    Each split is capped at MAX_ITEMS_PER_SPLIT items; raw texts are cut into passages of at
    most PASSAGE_CHARS characters at sentence ends.
    """
    if corpus not in MUSE_SOURCES:
        raise UserInputError(f"MUSE corpus must be one of {sorted(MUSE_SOURCES)}, got {corpus!r}")
    if use not in MUSE_USES:
        raise UserInputError(f"MUSE use must be one of {list(MUSE_USES)}, got {use!r}")
    source = source or MUSE_SOURCES[corpus]
    name = f"MUSE-{corpus.title()} {use}"
    src = _Source(source, f"Loading {name} from {source}")
    if use == "knowmem":
        qa = ("question", "answer")
        retain = src.load("knowmem", "retain_qa", qa, optional=True)
        if retain is None:  # early hub revisions named the split after the raw split it tests
            retain = src.load("knowmem", "retain2_qa", qa)
        return UnlearningTask(
            name=name,
            forget=_qa_items(_spread(src.load("knowmem", "forget_qa", qa), MAX_ITEMS_PER_SPLIT)),
            retain=_qa_items(_spread(retain, MAX_ITEMS_PER_SPLIT)),
            description=f"MUSE ({source}) knowmem: questions on the forget and retain corpora.",
        )
    splits = {s: src.load("raw", s, ("text",)) for s in ("forget", "retain1", "holdout")}
    forget, retain, holdout = (_passage_items(ds, f"muse-{corpus}:{s}") for s, ds in splits.items())
    return UnlearningTask(
        name=name,
        forget=forget,
        retain=retain,
        holdout=holdout,
        description=(
            f"MUSE ({source}) raw text in passages of up to {PASSAGE_CHARS} characters: forget, "
            f"retain1 and holdout, at most {MAX_ITEMS_PER_SPLIT} passages each."
        ),
    )


class _Source:
    """One hub dataset id or local folder; loads (config, split) pairs from it."""

    def __init__(self, source: str, what: str) -> None:
        self.source = source
        self.folder = _local_folder(source)
        if self.folder is None:
            # Without this, `datasets` retries for minutes on a machine with no network.
            require_hub(what, OFFLINE_ALTERNATIVES)

    def load(self, config: str, split: str, columns: tuple[str, ...], optional: bool = False):
        """The split as a `datasets.Dataset`, or None when `optional` and it cannot be had."""
        from datasets import load_dataset  # heavy import, only when data is actually loaded

        where = f"{self.source} (config {config!r}, split {split!r})"
        try:
            if self.folder is None:
                ds = load_dataset(self.source, config, split=split)
            else:
                path = self.folder / config / f"{split}.jsonl"
                if not path.is_file():
                    if optional:
                        return None
                    raise UserInputError(
                        f"{path} does not exist; a local folder must hold "
                        "<config>/<split>.jsonl files in the hub dataset's schema"
                    )
                ds = load_dataset("json", data_files=str(path), split="train")
        except UserInputError:
            raise
        except Exception as exc:  # datasets raises many types (ValueError, FileNotFoundError, ...)
            if optional:
                return None
            raise UserInputError(f"could not load {where}: {exc}") from exc
        missing = [c for c in columns if c not in ds.column_names]
        if missing:
            raise UserInputError(f"{where} lacks column(s) {missing}; it has {ds.column_names}")
        return ds


def _local_folder(source: str) -> Path | None:
    """The folder `source` names, or None when it is a hub id ("owner/name")."""
    if not source or not source.strip():
        raise UserInputError("the dataset source is empty; give a hub id or a local folder")
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if source.startswith((".", "/", "~", "\\")) or source.count("/") > 1:
        raise UserInputError(f"dataset folder {source!r} does not exist")
    return None


def _spread(ds, limit: int | None):
    """At most `limit` rows, evenly spaced, so a cap samples every author/topic, not the first."""
    if ds is None or limit is None or len(ds) <= limit:
        return ds
    return ds.select([i * len(ds) // limit for i in range(limit)])


def _qa_items(ds, extras=None) -> tuple[Item, ...]:
    by_question: dict[str, dict[str, Any]] = {}
    if extras is not None:
        by_question = {row["question"].strip(): row for row in extras}
    items = []
    for row in ds:
        extra = by_question.get(row["question"].strip(), {})
        perturbed = extra.get("perturbed_answer") or ()
        if isinstance(perturbed, str):  # be lenient with hand-made folders that give one string
            perturbed = (perturbed,)
        items.append(
            Item(
                "qa",
                question=row["question"].strip(),
                answer=row["answer"].strip(),
                paraphrased_answer=(extra.get("paraphrased_answer") or "").strip(),
                perturbed_answers=tuple(p.strip() for p in perturbed if p and p.strip()),
            )
        )
    return tuple(items)


def _passage_items(ds, group_prefix: str) -> tuple[Item, ...]:
    """Passages from the first documents until the cap; passages of one document share a group
    (the same article or book), which gives the contrastive loss natural positives."""
    items: list[Item] = []
    for index, row in enumerate(ds):
        for passage in split_into_passages(row["text"] or "", PASSAGE_CHARS):
            items.append(Item("passage", text=passage, group=f"{group_prefix}:doc{index}"))
            if len(items) == MAX_ITEMS_PER_SPLIT:
                return tuple(items)
    return tuple(items)
