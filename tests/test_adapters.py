"""Finished runs kept as LoRA weights and answered through one shared slot (app/adapters.py),
with the real embedded model."""

import pytest
import torch

from clreg_core.app.adapters import KeptAdapter, Slots
from clreg_core.app.explore import ask_before_after
from clreg_core.config import default_config
from clreg_core.engine.lora import attach_lora, load_trainable_state, trainable_state
from clreg_core.models.loading import load_model

QUESTION = "Where was Riaisuv Fivane born?"


def unlearned_weights(config, scale: float) -> dict:
    """LoRA weights far from zero (as after training), from a model of the run's shape."""
    model = attach_lora(load_model(config.model).model, config)
    generator = torch.Generator().manual_seed(int(scale * 100))
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    return trainable_state(model)


def dedicated(config, weights):
    """The unlearned model as the app built it before: a whole copy per run."""
    loaded = load_model(config.model)
    model = attach_lora(loaded.model, config)
    load_trainable_state(model, weights)
    return model.eval(), loaded


def test_runs_answer_through_one_slot_as_their_own_models_would():
    config = default_config("embedded")
    slots = Slots()
    first = KeptAdapter("first", config, unlearned_weights(config, 0.3), slots)
    second = KeptAdapter("second", config, unlearned_weights(config, 0.5), slots)
    answers = [first.ask(QUESTION), second.ask(QUESTION), first.ask(QUESTION)]
    assert answers[0] == answers[2]  # the second run left nothing behind in the slot
    for kept, (before, after) in zip((first, second), answers, strict=False):
        model, loaded = dedicated(config, kept.weights)
        expected = ask_before_after(model, loaded.tokenizer, loaded.prompt_style, QUESTION)
        assert (before, after) == expected
    # the adapters change the answers, so the equalities above could have failed
    assert answers[0][1] != answers[0][0] and answers[1][1] != answers[0][1]
    assert len(slots._slots) == 1  # one copy of the model for both runs


def test_a_kept_adapter_saves_as_peft_would(tmp_path):
    from peft import PeftModel

    config = default_config("embedded")
    kept = KeptAdapter("run", config, unlearned_weights(config, 0.05), Slots())
    kept.save_pretrained(tmp_path / "adapter")
    reloaded = PeftModel.from_pretrained(load_model(config.model).model, tmp_path / "adapter")
    state = trainable_state(reloaded) or {
        n: p for n, p in reloaded.named_parameters() if "lora_" in n
    }
    assert set(state) == set(kept.weights)
    for name, tensor in kept.weights.items():
        assert torch.equal(state[name], tensor)


def test_weights_of_another_shape_are_refused_not_half_loaded():
    config = default_config("embedded")
    weights = unlearned_weights(config, 0.05)
    weights.pop(next(iter(weights)))
    with pytest.raises(RuntimeError, match="do not fit the slot"):
        KeptAdapter("run", config, weights, Slots()).ask(QUESTION)
