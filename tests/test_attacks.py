"""The relearning attack: facts split without overlap, the model left as it was found."""

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from clreg_core.config import RunConfig
from clreg_core.data.sources import build_task
from clreg_core.engine.attacks import RelearnSettings, fact_key, relearning_attack, split_facts
from clreg_core.engine.evaluation import Measurer
from clreg_core.engine.lora import attach_lora
from clreg_core.models.registry import EMBEDDED_DIR


def test_split_keeps_every_phrasing_of_a_fact_on_one_side():
    forget = list(build_task("world:forget01").forget)
    shown, held_out = split_facts(forget, seed=0)
    assert shown and held_out and len(shown) + len(held_out) == len(forget)
    assert not {fact_key(i) for i in shown} & {fact_key(i) for i in held_out}
    # each fact is asked 4 ways; all four land on the same side
    assert all(sum(fact_key(j) == fact_key(i) for j in shown) == 4 for i in shown[:10])
    assert split_facts(forget, seed=0) == (shown, held_out)  # seeded


def test_attack_restores_the_model_it_fine_tuned():
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED_DIR)
    base = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=2048,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
        )
    )
    model = attach_lora(base, RunConfig())
    with torch.no_grad():  # a nonzero adapter, as after unlearning
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    saved = {n: p.detach().clone() for n, p in model.named_parameters()}
    measurer = Measurer(model, tokenizer, "qa", 48)
    forget = list(build_task("world:forget01").forget)[:40]
    result = relearning_attack(measurer, forget, seed=0, settings=RelearnSettings(steps=3))
    assert 0.0 <= result["relearn_heldout_before"] <= 1.0
    assert 0.0 <= result["relearn_heldout_after"] <= 1.0
    assert result["relearn_steps"] == 3 and result["relearn_test_items"] > 0
    for name, p in model.named_parameters():
        assert torch.equal(p, saved[name]), name
