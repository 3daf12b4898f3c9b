"""The shipped embedded model knows its world; the gold model does not know the forget people."""

import random

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from clreg_core.embedded.corpus import training_examples
from clreg_core.embedded.recall import accuracy_on, chance_levels
from clreg_core.embedded.train import TrainRecipe, build_model, collate, encode
from clreg_core.models.registry import EMBEDDED_DIR, EMBEDDED_GOLD_DIR
from clreg_core.world.generator import generate_world

MAX_WEIGHT_BYTES = 30 * 1024 * 1024


@pytest.fixture(scope="module")
def world():
    return generate_world()


def _load(folder):
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    return model, AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def embedded():
    return _load(EMBEDDED_DIR)


@pytest.fixture(scope="module")
def gold():
    return _load(EMBEDDED_GOLD_DIR)


def _sample_facts(world, people, count, seed=0):
    facts = world.facts_of(tuple(people))
    return random.Random(seed).sample(facts, min(count, len(facts)))


@pytest.mark.parametrize("folder", [EMBEDDED_DIR, EMBEDDED_GOLD_DIR])
def test_shipped_folders_are_small_llamas(folder):
    weights = folder / "model.safetensors"
    assert weights.is_file() and weights.stat().st_size <= MAX_WEIGHT_BYTES
    model, tokenizer = _load(folder)
    assert type(model).__name__ == "LlamaForCausalLM"
    names = {n.split(".")[-1] for n, _ in model.named_modules()}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= names
    assert tokenizer.eos_token_id is not None and tokenizer.pad_token_id is not None


def test_embedded_model_recalls_trained_facts_in_every_phrasing(world, embedded):
    trained = [p.name for p in world.trained_people]
    result = accuracy_on(*embedded, _sample_facts(world, trained, 80))
    assert result["accuracy"] >= 0.93, result
    assert min(result["by_phrasing"]) >= 0.85, result


def test_embedded_model_is_at_chance_on_holdout_people(world, embedded):
    result = accuracy_on(*embedded, world.facts_of(world.splits["holdout"]))
    chance = chance_levels(world, tuple(p.name for p in world.trained_people))
    # It must not know people it never saw: near what guessing common values gives.
    assert result["accuracy"] <= chance["majority"] + 0.05, (result, chance)


def test_gold_model_knows_retain_people_but_not_the_forget_split(world, gold):
    retain = world.splits["retain90"]
    assert accuracy_on(*gold, _sample_facts(world, retain, 60))["accuracy"] >= 0.9
    forget = accuracy_on(*gold, world.facts_of(world.splits["forget10"]))
    chance = chance_levels(world, retain)
    assert forget["accuracy"] <= chance["majority"] + 0.05, (forget, chance)


def test_training_recipe_is_deterministic_and_learns(world):
    """A few steps of the real training code on two people: same seed, same weights."""
    from clreg_core.embedded.corpus import tokenizer_corpus
    from clreg_core.embedded.tokenizer import train_tokenizer

    people = tuple(world.splits["forget01"])
    tokenizer = train_tokenizer(tokenizer_corpus(world, people), vocab_size=400)
    recipe = TrainRecipe(
        hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, bf16_autocast=False
    )
    batch = collate(
        encode(tokenizer, training_examples(world, people))[:32], tokenizer.pad_token_id
    )

    def run():
        model = build_model(recipe, tokenizer)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        losses = []
        for _ in range(15):
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        return model, losses

    (model_a, losses_a), (model_b, losses_b) = run(), run()
    assert losses_a == losses_b
    assert losses_a[-1] < 0.7 * losses_a[0]
    for (_, a), (_, b) in zip(
        model_a.state_dict().items(), model_b.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b)
