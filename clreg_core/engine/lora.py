"""LoRA on the attention and MLP projections, and hooks that read a decoder block's output.

Only the LoRA weights train. The original model's outputs come from `disable_adapter()` on the
same weights, never from a second copy, so a run holds one model in memory.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import Linear as LoraLinear

from clreg_core.config import ConfigError, RunConfig

# The projections LoRA adapts, per architecture family (config.model_type).
TARGETS_BY_FAMILY: dict[str, tuple[str, ...]] = {
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "qwen2": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "mistral": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "gpt2": ("c_attn", "c_proj", "c_fc"),
    "gpt_neox": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
}


def target_modules_for(model, requested: tuple[str, ...] = ()) -> list[str]:
    if requested:
        return list(requested)
    family = model.config.model_type
    if family not in TARGETS_BY_FAMILY:
        raise ConfigError(
            f"no default LoRA targets for architecture {family!r}; set target_modules "
            f"(known families: {', '.join(TARGETS_BY_FAMILY)})"
        )
    return list(TARGETS_BY_FAMILY[family])


def attach_lora(model, config: RunConfig) -> PeftModel:
    """Wrap `model` with a fresh LoRA adapter; the base weights are frozen by peft."""
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=target_modules_for(model, config.target_modules),
        # GPT-2 stores its projections as Conv1D (in, out); peft must transpose for them.
        fan_in_fan_out=model.config.model_type == "gpt2",
        bias="none",
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(config.seed)  # LoRA's A matrices are random: same seed, same start
    with warnings.catch_warnings():
        # peft reads transformers' deprecated `is_gradient_checkpointing`; the FutureWarning
        # is theirs to fix, and printed on every run it buried ours (655 in one CI run).
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        return get_peft_model(model, lora)


def enable_activation_checkpointing(model: PeftModel) -> None:
    """Recompute each block's activations in the backward pass (non-reentrant: the frozen
    base's inputs need no gradient, and the feature hooks see the recomputed pass too, which
    changes nothing they return)."""
    base = model.get_base_model()
    enable = getattr(base, "activation_checkpointing_enable", None)  # transformers 5.x's name
    (enable or base.gradient_checkpointing_enable)({"use_reentrant": False})


def decoder_blocks(model) -> list[torch.nn.Module]:
    """The transformer blocks in order, whatever the family calls them."""
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    for path in ("model.layers", "transformer.h", "gpt_neox.layers"):
        node = base
        try:
            for part in path.split("."):
                node = getattr(node, part)
        except AttributeError:
            continue
        return list(node)
    raise ConfigError(f"cannot find the decoder blocks of {type(base).__name__}")


def resolve_layer(model, layer: int) -> int:
    """A non-negative block index from a possibly negative one (-1 = last block)."""
    count = len(decoder_blocks(model))
    index = layer if layer >= 0 else count + layer
    if not 0 <= index < count:
        raise ConfigError(f"layer {layer} does not exist; this model has {count} blocks")
    return index


@contextmanager
def capture_block_outputs(model, layers: list[int]) -> Iterator[dict[int, torch.Tensor]]:
    """Collect the hidden states leaving the given blocks during forwards run inside the block.

    The dict maps block index to its latest output (B, T, D), with autograd history intact so
    losses on it train the model. Hooks are removed even when the forward raises.
    """
    blocks = decoder_blocks(model)
    captured: dict[int, torch.Tensor] = {}
    handles = []

    def hook_for(index: int):
        def hook(_module, _inputs, output):
            captured[index] = output[0] if isinstance(output, tuple) else output

        return hook

    try:
        for index in sorted(set(layers)):
            handles.append(blocks[index].register_forward_hook(hook_for(index)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def adapter_merged(model) -> Iterator[None]:
    """Inside, each LoRA'd nn.Linear computes x @ (W + s·BA)ᵀ in one matmul, the way a merged
    adapter runs, instead of the frozen matmul plus LoRA's two thin ones: on the embedded model
    on a CPU, measuring passes and greedy answers take a quarter less time, merging included
    (BENCHMARKS.md, "Run time of the default CLI run"). The merged weights are copies made
    on entry (from the adapter as it is then) and dropped on exit; the model's own weights are
    never touched. Only measurements run inside, never training: no gradient would reach LoRA
    through a merged weight."""
    merged = []
    with torch.no_grad(), torch.autocast(_device_type(model), enabled=False):  # fp32 merge
        for layer in model.modules():
            if not _mergeable(layer):
                continue
            base = layer.get_base_layer()
            weight = base.weight + layer.get_delta_weight(layer.active_adapters[0])
            layer.forward = _merged_forward(layer, weight, base.bias)
            merged.append(layer)
    try:
        yield
    finally:
        for layer in merged:
            del layer.forward


def _mergeable(layer) -> bool:
    """A LoRA layer over an nn.Linear with one active plain adapter (no variant such as DoRA,
    whose output is not W + s·BA), running unmerged. GPT-2's Conv1D and other layouts keep the
    unmerged path, which computes the same."""
    return (
        isinstance(layer, LoraLinear)
        and type(layer.get_base_layer()) is torch.nn.Linear
        and len(layer.active_adapters) == 1
        and not getattr(layer, "lora_variant", {})
        and not layer.merged
        and not layer.disable_adapters
        and "forward" not in layer.__dict__
    )


def _merged_forward(layer, weight: torch.Tensor, bias: torch.Tensor | None):
    def forward(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if layer.disable_adapters:  # the original model asked for inside: the base alone
            return LoraLinear.forward(layer, x, *args, **kwargs)
        return F.linear(x, weight, bias)

    return forward


def _device_type(model) -> str:
    return next(model.parameters()).device.type


def trainable_state(model) -> dict[str, torch.Tensor]:
    """A copy of the trainable (LoRA) weights: a few hundred KB, cheap to keep one per run."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@torch.no_grad()
def load_trainable_state(model, state: dict[str, torch.Tensor]) -> None:
    """Put back weights saved by `trainable_state`."""
    for name, param in model.named_parameters():
        if name in state:
            param.copy_(state[name])


def trainable_parameter_count(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def base_weights_fingerprint(model) -> str:
    """A short hash of the frozen base weights (LoRA weights left out): two models with the same
    fingerprint answer the same with the adapter off. It reads a strided sample of every tensor,
    so it costs milliseconds even for a 1B model."""
    digest = hashlib.sha1()
    for name, param in model.named_parameters():
        if "lora_" in name:
            continue
        sample = param.detach().flatten()[::1009].double()
        digest.update(f"{name}:{tuple(param.shape)}:{float(sample.sum()):.10e}".encode())
    return digest.hexdigest()[:16]
