"""Gone or only hidden? The relearning check (engine/relearning.py) with the real embedded model
and its gold twin (retrained without forget10)."""

import numpy as np
import pytest
import torch

from clreg_core.config import default_config
from clreg_core.engine.attacks import RelearnSettings
from clreg_core.engine.evaluation import Measurer
from clreg_core.engine.live import LiveView
from clreg_core.engine.lora import attach_lora, trainable_state
from clreg_core.engine.relearning import RelearningStopped, relearning_check
from clreg_core.engine.tasks import task_for_model
from clreg_core.models.loading import load_model
from clreg_core.models.registry import EMBEDDED

pytestmark = pytest.mark.slow
QUICK = RelearnSettings(steps=4, test_items=40)


@pytest.fixture(scope="module")
def world():
    config = default_config("embedded", task="world:forget10")
    task = task_for_model(config.task, EMBEDDED)
    gold = load_model(EMBEDDED.gold_source)
    return config, task, (gold.model, gold)


def lora_model(source, config):
    loaded = load_model(source)
    return attach_lora(loaded.model, config), loaded


def test_a_model_that_forgot_nothing_reads_as_hidden_against_the_gold_model(world):
    config, task, gold = world
    model, loaded = lora_model("embedded", config)  # a zero LoRA: the original model
    weights = trainable_state(model)
    block = relearning_check(model, loaded, config, task, QUICK, reference_model=gold)
    assert block["recall_steps"] == [0, 2, 4]  # every second step, and the last
    assert len(block["same_lora"]) == len(block["fresh_lora"]) == 3
    assert block["same_lora"][0] > 0.8  # it still knows the held-out facts
    assert block["reference"]["curve"][-1] < 0.5  # the gold model never learned them
    assert block["verdict"]["reading"].startswith("hidden")
    for name, tensor in trainable_state(model).items():  # the check left the model as it was
        assert torch.equal(tensor, weights[name])
    # The own-LoRA attack's points, on the live plot's axes: at its start they are the points
    # the live plot drew at step 0 (same items, same basis), and the attack moves them.
    motion = block["motion"]
    assert len(motion["frames"]) == len(block["recall_steps"])
    live = LiveView(Measurer.for_run(model, loaded, config), task, config, motion["layer"])
    drawn = live.measure(0)["points"]
    for side in ("forget", "retain"):
        np.testing.assert_allclose(motion["frames"][0][side], drawn[side], atol=2e-3)
    assert motion["forget_groups"] == drawn["forget_groups"]
    moved = np.abs(np.array(motion["frames"][-1]["forget"]) - motion["frames"][0]["forget"])
    assert moved.max() > 0.01


def test_the_gold_model_itself_reads_as_gone(world):
    config, task, gold = world
    model, loaded = lora_model(EMBEDDED.gold_source, config)
    block = relearning_check(model, loaded, config, task, QUICK, reference_model=gold)
    assert block["verdict"]["reading"].startswith("gone as deep as the reference")


def test_without_a_gold_model_the_reference_is_the_original_on_never_seen_people(world):
    config, task, _ = world
    model, loaded = lora_model("embedded", config)
    block = relearning_check(model, loaded, config, task, QUICK)
    assert "never-seen (holdout) people" in block["reference"]["model"]
    assert block["reference"]["curve"][0] < 0.5  # it never knew them


def test_a_stop_ends_the_check_within_a_step(world):
    config, task, gold = world
    model, loaded = lora_model("embedded", config)
    calls = []

    def stop_after_two():
        calls.append(1)
        return len(calls) > 2

    # Stop is asked between steps and between a measurement's batches: it must end the check
    # at the first ask that says yes, wherever that is.

    with pytest.raises(RelearningStopped):
        relearning_check(model, loaded, config, task, QUICK, stop_after_two, gold)
    # (generation halts at the next token and its caller asks once more, then raises)
    assert len(calls) <= 4
