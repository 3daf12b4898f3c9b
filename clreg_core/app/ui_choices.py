"""What the app's pickers offer, as plain strings (the app itself imports no model code)."""

from __future__ import annotations

import math

from clreg_core.app.limits import check_model_folder
from clreg_core.config import ConfigError, RunConfig, default_config
from clreg_core.data.custom_text import MAX_UPLOAD_BYTES, read_upload
from clreg_core.data.topic_packs import forget_pack_ids, pack_index
from clreg_core.data.world_source import FORGET_SPLITS, world_topics
from clreg_core.models.registry import REGISTRY
from clreg_core.user_text import normalised, visible_count


def model_choices() -> list[tuple[str, str]]:
    """(label, key) pairs, offline models first."""
    return [(spec.label, spec.key) for spec in REGISTRY]


def task_choices(model_key: str) -> list[tuple[str, str]]:
    """Forget topics that make sense for the model: the world for the embedded model, topic
    packs for pretrained ones."""
    if model_key == "embedded":
        topics = world_topics()
        choices = [(f"World split {s} ({s[-2:]}% of people)", f"world:{s}") for s in FORGET_SPLITS]
        choices += [(f"Every {p}", f"world:profession:{p}") for p in topics["profession"]]
        choices += [
            (f"Everyone born in {c}", f"world:birthplace:{c}") for c in topics["birthplace"]
        ]
        choices += [(f"Person: {n}", f"world:person:{n}") for n in topics["person"][:40]]
        return choices
    titles = {p["id"]: p["title"] for p in pack_index()}
    return [(f"Topic pack: {titles[p]}", f"pack:{p}") for p in forget_pack_ids()]


# --- the run form: what the app's controls hold, turned into a RunConfig ---

CUSTOM_TASK = ("Your own text (paste or upload below)", "custom")
METHOD_CHOICES = [
    ("NPO", "npo"),
    ("SimNPO", "simnpo"),
    ("GradDiff", "graddiff"),
    ("GradAscent", "gradascent"),
    ("RMU", "rmu"),
]
# When to stop: (label, RunConfig.stop_at)
STOP_AT_CHOICES = [
    ("at parity (looks never trained)", "parity"),
    ("after all steps (may go past parity)", "steps"),
]
STOP_AT_INFO = (
    "Parity: the forget people (or a pack's items) look like ones the model never saw: its "
    "answers about them are guesses as fluent as its guesses about strangers, and (for people) "
    "a membership test cannot tell them from strangers. Training stops there; 'after all "
    "steps' pushes past it, so you can see over-unlearning."
)
# The advanced panel, in display order: (RunConfig field, label, whole number?)
# Gradio refuses larger uploads at the server, before storing them (app.launch).
UPLOAD_LIMIT_BYTES = MAX_UPLOAD_BYTES
# Uploads Gradio stored are deleted as the run downloads are: hourly, once two hours old.
UPLOAD_CLEANUP = (3600, 7200)

ADVANCED_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("steps", "steps", True),
    ("learning_rate", "learning rate", False),
    ("lora_rank", "LoRA rank", True),
    ("feature_layer", "feature layer (-1 = last block)", True),
    ("temperature", "τ (temperature)", False),
    ("anchor_weight", "μ (retain anchor weight)", False),
    ("seed", "seed", True),
    ("eval_every", "live evaluation every … steps", True),
    # fewer make each live check quicker and noisier (SmolLM2 answers ~0.4 s an item on 2 cores)
    ("eval_items", "items per side in each live evaluation", True),
    ("final_eval_items", "items per side in the final measurement", True),
)


def chosen_model(picked: str, typed: str) -> str:
    """A typed local folder or hub id wins over the dropdown (unless nothing of it shows)."""
    typed = normalised(typed or "", "the model name").strip()
    chosen = (typed if visible_count(typed) else "") or (picked or "").strip()
    check_model_folder(chosen)  # on a public host: only the folders it offers
    return chosen


def run_choices(model_choice: str) -> tuple[list[tuple[str, str]], str]:
    """The forget topics offered for a model (own text last) and the model's default topic."""
    choices = task_choices("embedded" if model_choice == "embedded" else "pretrained")
    default = default_config(model_choice).task
    if default not in [value for _, value in choices]:
        default = choices[0][1]
    return [*choices, CUSTOM_TASK], default


def default_config_value(model_choice: str, name: str):
    """One setting of the model's default config (what a form field starts at)."""
    return getattr(default_config(model_choice or "embedded"), name)


def advanced_defaults(model_choice: str, method: str | None = None, clreg: bool = True) -> list:
    """The advanced panel's values for a model and method: the settings that work on a CPU for
    them (the model's default method where none is given)."""
    chosen = {"method": method, "clreg": bool(clreg)} if method else {}
    config = default_config(model_choice or "embedded", **chosen)
    return [getattr(config, name) for name, _, _ in ADVANCED_FIELDS]


def _number(name: str, value) -> float:
    """A finite number from a form field (API callers can send NaN, inf, text or true/false)."""
    if isinstance(value, bool):  # a bool is an int to Python; to a user it is no number
        raise ConfigError(f"{name}={value!r} must be a number, not true/false")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} must be a number") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name}={value!r} must be a finite number")
    return number


def _whole(name: str, value) -> int:
    number = _number(name, value)
    if number != int(number):
        raise ConfigError(f"{name}={value!r} must be a whole number")
    return int(number)


def config_from_form(
    model_choice: str,
    task: str,
    method: str,
    clreg: bool,
    clreg_weight: float,
    advanced: list,
    stop_at: str | None = None,
    relearn_check: bool | None = None,
) -> RunConfig:
    """The RunConfig the form describes; an empty or impossible field raises `ConfigError`.
    `stop_at` left empty keeps the model's default rule (parity); `relearn_check` left out, the
    model's default (off)."""
    if not model_choice:
        raise ConfigError("no model chosen: pick one from the list or type a folder / hub id")
    if not isinstance(clreg, bool):
        raise ConfigError(f"CLReg on or off must be true or false, got {clreg!r}")
    values = {"method": method, "clreg": clreg, "clreg_weight": clreg_weight}
    if relearn_check is not None:
        if not isinstance(relearn_check, bool):
            raise ConfigError(f"the relearning check must be true or false, got {relearn_check!r}")
        values["relearn_check"] = relearn_check
    if stop_at:
        values["stop_at"] = stop_at
    if len(advanced) != len(ADVANCED_FIELDS):
        raise ConfigError(f"expected {len(ADVANCED_FIELDS)} advanced settings, got {len(advanced)}")
    for (name, label, whole), value in zip(ADVANCED_FIELDS, advanced, strict=True):
        if value is None or value == "":
            raise ConfigError(f"{label} is empty; type a number")
        values[name] = _whole(label, value) if whole else _number(label, value)
    if values["clreg_weight"] is None or values["clreg_weight"] == "":
        raise ConfigError("λ (CLReg weight) is empty; type a number")
    values["clreg_weight"] = _number("λ (CLReg weight)", values["clreg_weight"])
    return default_config(model_choice, task=task or "", **values)


def own_text(config: RunConfig, typed: str, upload: str | None) -> str | None:
    """The user's own text for a `custom` task (an uploaded file, with its size, binary and
    encoding checks, wins over the text box); None for every other task."""
    if config.task != "custom":
        return None
    return read_upload(upload) if upload else typed
