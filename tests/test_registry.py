"""Choosing models: the registry, local folders, and a fast clear failure when the hub is away."""

import json
import time

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from clreg_core.errors import ModelUnavailableError, UserInputError
from clreg_core.hub import clear_hub_cache
from clreg_core.models.loading import load_model
from clreg_core.models.registry import EMBEDDED, REGISTRY, SMOLLM2, resolve_model


@pytest.fixture
def hub_unreachable(monkeypatch):
    """A hub endpoint on a closed local port: refused at once, on any machine."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", "/nonexistent-clreg-hf-home")  # nothing cached
    clear_hub_cache()
    yield
    clear_hub_cache()


def test_registry_lists_offline_models_first_and_hub_models():
    assert REGISTRY[0] is EMBEDDED and REGISTRY[1] is SMOLLM2
    assert EMBEDDED.offline and SMOLLM2.offline
    hub = [s.key for s in REGISTRY if s.kind == "hub"]
    assert "Qwen/Qwen2.5-0.5B-Instruct" in hub and len(hub) >= 3
    assert resolve_model("embedded") is EMBEDDED
    assert resolve_model(EMBEDDED.label) is EMBEDDED
    assert resolve_model("  SmolLM2-135M ") is SMOLLM2


@pytest.mark.parametrize("choice", ["", "gpt-5", "not a model!"])
def test_unknown_models_are_refused_with_the_offline_choices(choice):
    with pytest.raises(UserInputError) as error:
        resolve_model(choice)
    assert "embedded" in str(error.value)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="config.json"):
        resolve_model(str(tmp_path))


@pytest.mark.parametrize("repo", ["Qwen/Qwen2.5-0.5B-Instruct", "someone/some-model"])
def test_hub_model_fails_fast_with_offline_alternatives(hub_unreachable, repo):
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as error:
        load_model(repo)
    assert time.perf_counter() - started < 5
    message = str(error.value)
    assert repo in message and "embedded" in message and "smollm2-135m" in message


def test_offline_setting_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-clreg-hf-home")
    clear_hub_cache()
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE"):
        load_model("HuggingFaceTB/SmolLM2-360M-Instruct")
    assert time.perf_counter() - started < 5


def _save_tiny(model, tokenizer_source, folder):
    model.save_pretrained(folder)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(folder)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_local_folder_built_from_a_config_loads(tmp_path, family):
    torch.manual_seed(0)
    vocab = 2048  # the embedded tokenizer's size, so we can reuse it
    if family == "llama":
        model = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=vocab,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                num_key_value_heads=2,
            )
        )
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=2))
    _save_tiny(model, EMBEDDED.source, tmp_path)
    loaded = load_model(str(tmp_path))
    assert loaded.spec.kind == "local" and loaded.prompt_style == "qa"
    assert loaded.model.config.model_type == family
    assert loaded.tokenizer.pad_token is not None


def test_remote_code_is_never_trusted(tmp_path):
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=2048,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
        )
    )
    _save_tiny(model, EMBEDDED.source, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["model_type"] = "clreg-custom"
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomModel"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "modeling_custom.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ModelUnavailableError, match="could not load"):
        load_model(str(tmp_path))
