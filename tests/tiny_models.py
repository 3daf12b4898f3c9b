"""Tiny models built from configs, and a small run config, shared by the engine and parity
tests (the fixtures they use, `tokenizer` and `small_task`, are in conftest.py)."""

import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from clreg_core.config import RunConfig
from clreg_core.models.loading import LoadedModel
from clreg_core.models.registry import ModelSpec

VOCAB = 2048  # the embedded tokenizer's vocabulary, reused by every tiny model


def tiny_model(family: str):
    torch.manual_seed(0)
    small = dict(vocab_size=VOCAB)
    if family == "llama":
        return LlamaForCausalLM(
            LlamaConfig(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=3,
                num_attention_heads=2,
                **small,
            )
        )
    if family == "qwen2":
        return Qwen2ForCausalLM(
            Qwen2Config(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=3,
                num_attention_heads=2,
                num_key_value_heads=1,
                **small,
            )
        )
    if family == "gpt2":
        return GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=3, n_head=2, **small))
    return GPTNeoXForCausalLM(
        GPTNeoXConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=2,
            **small,
        )
    )


def loaded_tiny(family, tokenizer):
    spec = ModelSpec(key=f"tiny-{family}", label=family, kind="local", source="", prompt_style="qa")
    return LoadedModel(spec, tiny_model(family), tokenizer, "qa", 0.0)


def small_config(**changes):
    base = dict(
        model="tiny",
        task="small",
        steps=3,
        eval_every=2,
        eval_items=16,
        final_eval_items=16,
        forget_batch_size=4,
        retain_batch_size=4,
        max_length=48,
        learning_rate=1e-2,
        stop_at="steps",  # a random tiny model is at parity from the start: train anyway
    )
    return RunConfig(**{**base, **changes})


def nonzero_adapter(model) -> None:
    """LoRA B weights away from zero, so the adapter-on and adapter-off passes differ."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(0)) * 0.1)
    model.eval()  # no dropout: every way of computing must see the same network
