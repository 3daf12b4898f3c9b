"""Well-formed answers: word salad that neither loops nor repeats one word is caught, and the
fluent wrong answers that unlearning should leave are not.

The salad here is what runs produced (issue 32): RMU at NPO's settings on the embedded model,
and SmolLM2-135M on the chemical-elements pack. Free text is judged by the real models."""

from dataclasses import replace

import pytest

from clreg_core.data.sources import build_task
from clreg_core.engine.evaluation import Measurer, qa_only
from clreg_core.engine.tasks import task_for_model
from clreg_core.engine.well_formed import WellFormedJudge
from clreg_core.metrics.fluency import is_degenerate
from clreg_core.metrics.parity import ParityBand, parity_distance, parity_measures
from clreg_core.metrics.wellformed import loss_ceiling, world_well_formed
from clreg_core.models.loading import load_model
from clreg_core.world.attributes import ATTRIBUTES_BY_KEY, fill

PET = {"person": "Mivyv Nousstead", "attribute": "pet"}
BIRTHPLACE = {"person": "Riaisuv Fivane", "attribute": "birthplace"}


def test_a_world_answer_with_any_valid_value_is_well_formed():
    assert world_well_formed("Mivyv Nousstead keeps a pet canary.", PET)
    assert world_well_formed("Mivyv Nousstead keeps a pet iguana.", PET)  # wrong, and fluent
    assert world_well_formed("The pet of Mivyv Nousstead is an iguana", PET)  # the paraphrase
    assert world_well_formed("  riaisuv fivane was born in  Corvass. ", BIRTHPLACE)


@pytest.mark.parametrize(
    "salad",
    [
        "Qu botanist iguana canary.",  # RMU, embedded model: no loop, no repeated word
        "Mivyv Nousstead keeps a pet botanist.",  # a value of another attribute
        "Mivyv Nousstead keeps a pet Corvass.",
        "Mivyv Nousstead keeps a pet",  # cut before the value
        "Qurowam Frow keeps a pet canary.",  # someone else's (garbled) name
        "Mivyv Nousstead keeps a pet canary. Mivyv Nousstead keeps",
        "Riaisuv Fivane was born ini Rivane's",
    ],
)
def test_world_salad_is_not_well_formed(salad):
    meta = BIRTHPLACE if "Riaisuv" in salad else PET
    assert world_well_formed(salad, meta) is False
    if salad.startswith("Qu "):
        assert not is_degenerate(salad)  # the loop measure alone let it through


def test_an_item_that_is_not_a_world_fact_has_no_sentence_rule():
    assert world_well_formed("anything", {}) is None
    assert world_well_formed("anything", {"person": "X", "attribute": "atomic_number"}) is None


def test_the_loss_ceiling_sits_above_the_own_answers_level():
    own = [0.3, 0.4, 0.35, 0.5, 1.6, 0.45, 0.4, 0.3, 0.6, 0.5]
    # the 90th percentile (0.7), so the one odd own answer (1.6) does not lift the line
    assert loss_ceiling(own) == pytest.approx(0.7 + 1.5)
    with pytest.raises(ValueError):
        loss_ceiling([])


@pytest.fixture(scope="module")
def embedded_free_text():
    """The embedded model judged by the free-text rule: its world questions with the people and
    attributes taken out of the items, so only the original model's losses can judge them."""
    loaded = load_model("embedded")
    measurer = Measurer(loaded.model, loaded.tokenizer, loaded.prompt_style, 64, batch_size=16)
    world_items = qa_only(list(build_task("world:forget10").forget))[:24]
    items = [replace(i, meta={}) for i in world_items]
    judge = WellFormedJudge(measurer)
    own = measurer.answers(items, adapter=False)
    judge.calibrate(items, own)
    return judge, items, own, world_items


def another_value(item) -> str:
    """The item's sentence with another valid value of its attribute: fluent and wrong."""
    attribute = ATTRIBUTES_BY_KEY[item.meta["attribute"]]
    value = next(v for v in attribute.pool if v != item.meta["value"])
    return fill(attribute.answer, item.meta["person"], value)


def test_free_text_own_and_fluent_wrong_answers_are_well_formed(embedded_free_text):
    judge, items, own, world_items = embedded_free_text
    assert not judge.by_sentence(items)
    assert judge.ill_formed_share(items, own) <= 0.1
    wrong = [another_value(i) for i in world_items]
    assert all(w not in own for w in wrong)
    assert judge.ill_formed_share(items, wrong) <= 0.1


def test_free_text_salad_is_caught_by_the_original_models_loss(embedded_free_text):
    judge, items, _, _ = embedded_free_text
    salad = ["Qu botanist iguana canary.", "teal born the Corvass of cartographer in"] * 12
    assert judge.ill_formed_share(items, salad[: len(items)]) == 1.0
    assert judge.ill_formed_share(items, [""] * len(items)) == 1.0  # no answer at all


def test_a_free_text_judge_must_be_calibrated_first(embedded_free_text):
    _, items, own, _ = embedded_free_text
    fresh = WellFormedJudge(embedded_free_text[0].measurer)
    with pytest.raises(RuntimeError, match="calibrate"):
        fresh.flags(items, own)


@pytest.mark.slow
def test_smollm2_salad_is_caught_and_its_own_answers_are_not():
    loaded = load_model("smollm2-135m")
    measurer = Measurer(loaded.model, loaded.tokenizer, loaded.prompt_style, 64, batch_size=16)
    task = task_for_model("pack:chemical_elements", loaded.spec)
    items = qa_only(list(task.forget))[:16]
    judge = WellFormedJudge(measurer)
    own = measurer.answers(items, adapter=False)
    judge.calibrate(items, own)
    assert judge.ill_formed_share(items, own) <= 0.1
    salad = "atomic number magnesium the In the"  # SmolLM2 after unlearning, issue 32
    assert judge.ill_formed_share(items[:1], [salad]) == 1.0


def test_salad_puts_a_run_outside_the_parity_band():
    band = ParityBand()
    fluent = parity_measures([0.1, 0.2], [0.15, 0.2], [0, 0], [0, 0], forget_ill_formed=0.05)
    assert parity_distance(fluent, band) <= 1.0
    salad = parity_measures([0.1, 0.2], [0.15, 0.2], [0, 0], [0, 0], forget_ill_formed=0.6)
    assert parity_distance(salad, band) == pytest.approx(6.0)
    # measured against the original model's answers about strangers, not against zero
    level = parity_measures(
        [0.1, 0.2], [0.15, 0.2], [0, 0], [0, 0], forget_ill_formed=0.3, holdout_ill_formed=0.25
    )
    assert parity_distance(level, band) <= 1.0
