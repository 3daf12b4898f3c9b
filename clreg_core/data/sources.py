"""One entry point from a task name to an `UnlearningTask`, for the CLI, the app and benchmarks.

Task names:
    world:forget01 | world:forget05 | world:forget10       a fixed split of the Fictional World
    world:untuned15                                        15 people no setting is tuned on
    world:person:<name> | world:profession:<p> | world:birthplace:<city>
    pack:<id>                                              a bundled topic pack (see index.json)
    custom                                                 the user's own text (`custom_text=`)
    tofu:forget01|forget05|forget10                        TOFU through `datasets` (hub or folder)
    muse:news|books[:knowmem|raw]                          MUSE through `datasets`
"""

from __future__ import annotations

from clreg_core.data.custom_text import parse_custom_text
from clreg_core.data.hub_datasets import TOFU_SOURCE, load_muse, load_tofu
from clreg_core.data.items import UnlearningTask
from clreg_core.data.topic_packs import RETAIN_PACK, load_pack, topic_pack_task
from clreg_core.data.world_source import UNTUNED_SPLIT, world_split_task, world_topic_task
from clreg_core.errors import UserInputError

DEFAULT_TASK = "world:forget10"


def build_task(
    name: str,
    *,
    model_key: str | None = None,
    custom_text: str = "",
    custom_format: str = "auto",
    custom_retain: str = "general_knowledge",
    dataset_source: str | None = None,
) -> UnlearningTask:
    """Build the task called `name`; `UserInputError` names the problem when it cannot.

    `model_key` picks a pack task's items the model knew (its probe on file). For `custom`,
    `custom_retain` says what to keep (see `custom_task`); `engine.tasks.task_for_model` sets
    both from the chosen model."""
    kind, _, rest = (name or "").strip().partition(":")
    if kind == "world":
        if rest.startswith("forget") or rest == UNTUNED_SPLIT:
            return world_split_task(rest)
        topic, _, value = rest.partition(":")
        return world_topic_task(topic, value)
    if kind == "pack":
        return topic_pack_task(rest, model_key=model_key)
    if kind == "custom":
        return custom_task(custom_text, custom_format, custom_retain)
    if kind == "tofu":
        return load_tofu(rest or "forget10", source=dataset_source or TOFU_SOURCE)
    if kind == "muse":
        corpus, _, use = rest.partition(":")
        return load_muse(corpus or "news", source=dataset_source, use=use or "knowmem")
    raise UserInputError(
        f"unknown task {name!r}; use world:forget10, world:profession:<name>, pack:<id>, custom, "
        "tofu:forget10 or muse:news"
    )


def custom_task(text: str, fmt: str = "auto", retain: str = "general_knowledge") -> UnlearningTask:
    """The user's text as the forget set; what to keep comes from a bundled source.

    `retain` is `general_knowledge` (the retain topic pack, for pretrained models) or a world
    retain split such as `world:retain90` (for the embedded model, which knows only its world).
    """
    forget = tuple(parse_custom_text(text, fmt))
    if len(forget) < MIN_OWN_ITEMS:
        raise UserInputError(
            f"your text gives {len(forget)} item to forget; a run needs at least "
            f"{MIN_OWN_ITEMS} (the measurements compare forget items with each other and with "
            "retain ones): add another sentence or paragraph, or another JSONL line"
        )
    if retain == "general_knowledge":
        kept = load_pack(RETAIN_PACK)
    elif retain.startswith("world:"):
        kept = world_split_task("forget10").retain
    else:
        raise UserInputError(
            f"unknown retain source {retain!r}; use general_knowledge or world:retain90"
        )
    # What is to be forgotten cannot also be kept: own JSONL about world people held most of
    # retain90 verbatim, so the retain term trained the very answers the forget term removed.
    forgotten = {_content(i) for i in forget}
    kept_apart = tuple(i for i in kept if _content(i) not in forgotten)
    removed = len(kept) - len(kept_apart)
    note = f" ({removed} of its items are in your text and were left out)" if removed else ""
    return UnlearningTask(
        name="custom",
        forget=forget,
        retain=kept_apart,
        description=f"Forget {len(forget)} items of your own text; keep {retain}{note}.",
    )


MIN_OWN_ITEMS = 2


def _content(item) -> tuple[str, str, str]:
    """An item's text, case and spacing aside: what makes two items the same fact."""
    return tuple(" ".join(part.lower().split()) for part in (item.question, item.answer, item.text))
