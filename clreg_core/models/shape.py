"""A model's shape from its config alone, no weights: what a run's settings are checked against
(a feature layer within its depth, a LoRA rank within its width) and what a run's time and memory
are estimated from, before anything is queued or loaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from clreg_core.errors import ModelUnavailableError
from clreg_core.hub import require_hub
from clreg_core.models import smollm2
from clreg_core.models.registry import ModelSpec, offline_model_names, resolve_model


@dataclass(frozen=True)
class ModelShape:
    layers: int
    hidden: int
    intermediate: int
    vocab: int
    heads: int
    kv_heads: int
    max_positions: int | None
    tied_embeddings: bool

    @property
    def parameters(self) -> int:
        """Llama-style count (gated MLP, grouped KV heads); within a few % for the families the
        app offers, which is all an estimate needs."""
        kv = self.hidden * self.kv_heads // max(self.heads, 1)
        attention = 2 * self.hidden * self.hidden + 2 * self.hidden * kv
        mlp = 3 * self.hidden * self.intermediate
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * (attention + mlp) + embeddings

    def lora_parameters(self, rank: int) -> int:
        """LoRA on every attention and MLP projection: rank x (fan-in + fan-out) each."""
        kv = self.hidden * self.kv_heads // max(self.heads, 1)
        fans = (
            2 * (2 * self.hidden) + 2 * (self.hidden + kv) + 3 * (self.hidden + self.intermediate)
        )
        return self.layers * rank * fans


def shape_from_config(config: dict) -> ModelShape:
    """From a transformers config.json (Llama, Qwen2, Mistral, GPT-2 and GPT-NeoX names)."""

    def first(*names, default=None):
        for name in names:
            if config.get(name) is not None:
                return config[name]
        if default is None:
            raise KeyError(f"the model's config has none of {names}")
        return default

    hidden = int(first("hidden_size", "n_embd", "d_model"))
    heads = int(first("num_attention_heads", "n_head"))
    return ModelShape(
        layers=int(first("num_hidden_layers", "n_layer")),
        hidden=hidden,
        intermediate=int(first("intermediate_size", "n_inner", default=4 * hidden) or 4 * hidden),
        vocab=int(first("vocab_size")),
        heads=heads,
        kv_heads=int(first("num_key_value_heads", default=heads)),
        max_positions=first("max_position_embeddings", "n_positions", default=0) or None,
        tied_embeddings=bool(config.get("tie_word_embeddings", True)),
    )


def model_shape(choice: str | ModelSpec) -> ModelShape:
    """The shape of a registry model, a local folder or a hub model (its config.json only: an
    offline hub fails within seconds, as loading would)."""
    spec = choice if isinstance(choice, ModelSpec) else resolve_model(choice)
    if spec.kind in ("embedded", "local"):
        return shape_from_config(_read_json(Path(spec.source) / "config.json"))
    if spec.kind == "gguf-package":
        for folder in (smollm2.hub_copy(), smollm2.converted_dir()):
            if folder is not None and (folder / "config.json").exists():
                return shape_from_config(_read_json(folder / "config.json"))
        try:
            return _gguf_shape(smollm2.find_gguf())
        except ModelUnavailableError:  # no package either: the hub's config (online)
            return shape_from_config(_hub_config(smollm2.HUB_REPO))
    return shape_from_config(_hub_config(spec.source))


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _hub_config(repo_id: str) -> dict:
    from huggingface_hub import hf_hub_download

    try:  # a cached copy first: no network
        return _read_json(Path(hf_hub_download(repo_id, "config.json", local_files_only=True)))
    except Exception:  # not cached (the hub library raises several types for this)
        pass
    require_hub(f"model {repo_id!r}", offline_model_names())
    return _read_json(Path(hf_hub_download(repo_id, "config.json")))


def _gguf_shape(path: Path) -> ModelShape:
    """From the GGUF header (memory-mapped; no tensor is dequantised)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    fields = reader.fields

    def value(key: str):
        field = fields[key]
        return field.parts[field.data[0]].tolist()[0]

    arch = bytes(fields["general.architecture"].parts[fields["general.architecture"].data[0]])
    arch = arch.decode()
    heads = int(value(f"{arch}.attention.head_count"))
    return ModelShape(
        layers=int(value(f"{arch}.block_count")),
        hidden=int(value(f"{arch}.embedding_length")),
        intermediate=int(value(f"{arch}.feed_forward_length")),
        vocab=len(fields["tokenizer.ggml.tokens"].data),
        heads=heads,
        kv_heads=int(value(f"{arch}.attention.head_count_kv")),
        max_positions=int(value(f"{arch}.context_length")),
        tied_embeddings="output.weight" not in {t.name for t in reader.tensors},
    )
