"""Retrain parity without a gold model: fluency of answers, the parity measures and distance,
the `ParityStop` rule, and how the training loop reports where and why it stopped.

Every expected value below is worked out by hand in the comment next to it."""

import math

import pytest
from tiny_models import loaded_tiny, small_config

from clreg_core.config import HUB_DEFAULTS, RunConfig, default_config
from clreg_core.engine.live import parity_band
from clreg_core.engine.stopping import CONTINUE, OVERSHOT, REACHED, ParityStop
from clreg_core.engine.training import STAGES, parity_outcome, run_unlearning
from clreg_core.metrics.fluency import (
    degenerate_share,
    distinct_n,
    is_degenerate,
    longest_run,
    mean_distinct_n,
    repeats_a_phrase,
    same_answer_share,
    words,
)
from clreg_core.metrics.parity import (
    ParityBand,
    final_check,
    final_text,
    overshot,
    parity_distance,
    parity_measures,
)

FLUENT = "Jaceth Tyvton was born in Caldera Bay."
STUTTER = "Kousswick Kousswick Kousswick"
# "was Kousswick" x4: 8 words, 7 pairs, only 2 distinct pairs (2/7 < 0.5), no word twice in a row
LOOP = "was Kousswick was Kousswick was Kousswick was Kousswick"


# --- fluency -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tokens, expected",
    [
        ([], 0),
        (["a"], 1),
        (["a", "b", "a"], 1),
        (["a", "a", "b", "b", "b"], 3),
        (["b", "b", "b", "a", "a"], 3),  # the longest run may come first
        (["x", "x", "y", "x", "x"], 2),  # runs do not add up across an interruption
    ],
)
def test_longest_run(tokens, expected):
    assert longest_run(tokens) == expected


# The scripted measures below are written for this band (AUC 0.5 ± 0.1, accuracy + 0.05).
TIGHT = ParityBand(auc_tolerance=0.1)


def test_distinct_n_by_hand():
    # 7 words, 6 pairs, all different
    assert distinct_n(FLUENT, 2) == 1.0
    assert distinct_n(FLUENT, 1) == 1.0
    # the cat and the dog and the bird: 8 words, 5 distinct (the, cat, and, dog, bird)
    sentence = "The cat and the dog and the bird."
    assert distinct_n(sentence, 1) == pytest.approx(5 / 8)
    # pairs: the-cat cat-and and-the the-dog dog-and and-the the-bird: 6 distinct of 7
    assert distinct_n(sentence, 2) == pytest.approx(6 / 7)
    # kousswick x3: 2 pairs, both (kousswick, kousswick)
    assert distinct_n(STUTTER, 2) == pytest.approx(1 / 2)
    assert distinct_n(STUTTER, 1) == pytest.approx(1 / 3)
    # a b c a b c: trigrams abc bca cab abc: 3 distinct of 4
    assert distinct_n("a b c a b c", 3) == pytest.approx(3 / 4)
    assert distinct_n(LOOP, 2) == pytest.approx(2 / 7)
    # case and punctuation are not words: "A, a. A!" is one word said three times
    assert distinct_n("A, a. A!", 1) == pytest.approx(1 / 3)


def test_distinct_n_is_none_without_an_n_gram():
    assert distinct_n("", 1) is None
    assert distinct_n("...!?", 1) is None  # punctuation only: no words
    assert distinct_n("Kousswick", 2) is None  # one word has no pair
    assert distinct_n("Kousswick", 1) == 1.0
    assert distinct_n("born in Caldera", 4) is None


@pytest.mark.parametrize("n", [0, -1])
def test_distinct_n_below_one_raises(n):
    with pytest.raises(ValueError, match="n must be at least 1"):
        distinct_n(FLUENT, n)
    with pytest.raises(ValueError, match="n must be at least 1"):
        mean_distinct_n([FLUENT], n)


@pytest.mark.parametrize(
    "answer",
    [
        FLUENT,
        "The cat and the dog and the bird.",  # repeats words, but neither a run nor a loop
        "She wrote The Long Road in 1998 and The Short Road in 2003.",
        "Kousswick Kousswick",  # two in a row is not yet a stutter
        "Quubiss Kessrow's favourite colour is indigo; Jaceth Tyvton's favourite is teal.",
        "",
        # SmolLM2 before and after unlearning: the subject named again 14 and 8 words on is
        # prose, not a restart
        "The chemical element with the symbol O is a rare earth element, which is a chemical "
        "element with the atomic number 55.",
        "The lightest chemical element is element 113, which is a chemical element with a "
        "symbol of 113.",
    ],
)
def test_fluent_answers_are_not_degenerate(answer):
    assert not is_degenerate(answer)


@pytest.mark.parametrize(
    "answer",
    [
        STUTTER,
        "He was born in Kousswick Kousswick Kousswick Bay.",  # a run inside a sentence
        "Kousswick, KOUSSWICK. kousswick!",  # punctuation and case do not break the run
        LOOP,  # a loop with no word twice in a row
        # restarts seen after unlearning the embedded model: a content phrase said twice
        "Jaceth Tyvton's favourite colour isyvton's favourite colour is",
        "Qurow works as arow works as arow works asrow",
        # ... and a loop late in a long answer, 5 words on
        "The lightest chemical element is a type of element that is a synthetic element, which "
        "is a chemical element that is a chemical element that is a chemi",
    ],
)
def test_stutters_and_loops_are_degenerate(answer):
    assert is_degenerate(answer)


def test_the_loop_has_no_run_so_only_the_pair_rule_catches_it():
    assert longest_run(LOOP.lower().split()) == 1
    assert is_degenerate(LOOP)


def test_short_answers_have_too_few_pairs_to_call_a_loop():
    # 6 words, 5 pairs, 2 distinct (0.4 < 0.5), but 5 pairs are too few to call a loop
    short = "was Kousswick was Kousswick was Kousswick"
    assert distinct_n(short, 2) == pytest.approx(2 / 5)
    assert not is_degenerate(short)
    # one more word: 6 pairs, still 2 distinct (1/3): now a loop
    assert is_degenerate(short + " was")


def test_exactly_half_distinct_pairs_is_not_a_loop():
    # a b a b a b c: pairs ab ba ab ba ab bc: 3 distinct of 6 = 0.5, not below it
    answer = "a b a b a b c"
    assert distinct_n(answer, 2) == 0.5
    assert not is_degenerate(answer)
    # a b a b a b a: pairs ab ba ab ba ab ba: 2 distinct of 6, below 0.5
    assert is_degenerate("a b a b a b a")


def test_a_content_phrase_repeats_within_the_window_only():
    # "colour palette" from word 1 and again from word 6 (5 on): a restart; from word 7: prose
    near = "bright colour palette a b c colour palette"
    far = "bright colour palette a b c d colour palette"
    assert repeats_a_phrase(words(near)) and not repeats_a_phrase(words(far))


def test_a_stutter_through_a_possessive_is_degenerate():
    assert is_degenerate("Kousswick's Kousswick Kousswick.")


def test_degenerate_share():
    # fluent, stutter, loop, short: 2 of 4 degenerate
    answers = [FLUENT, STUTTER, LOOP, "was Kousswick was Kousswick"]
    assert degenerate_share(answers) == 0.5
    assert degenerate_share([FLUENT]) == 0.0
    assert degenerate_share([STUTTER, LOOP, STUTTER]) == 1.0
    assert degenerate_share(["", FLUENT, STUTTER]) == pytest.approx(1 / 3)
    assert math.isnan(degenerate_share([]))


def test_mean_distinct_n_averages_answers_that_have_an_n_gram():
    # "a b a b": pairs ab ba ab: 2/3; FLUENT: 1.0; "" and "word" have no pair and are left out
    assert mean_distinct_n(["a b a b", FLUENT, "", "word"], 2) == pytest.approx((2 / 3 + 1) / 2)
    # with n=1 "word" counts (1.0): (0.5 + 1.0 + 1.0) / 3
    assert mean_distinct_n(["a b a b", FLUENT, "", "word"], 1) == pytest.approx(2.5 / 3)
    assert mean_distinct_n([STUTTER, LOOP], 2) == pytest.approx((1 / 2 + 2 / 7) / 2)
    assert math.isnan(mean_distinct_n([], 2))
    assert math.isnan(mean_distinct_n(["", "word", "?!"], 2))


# --- parity measures and distance --------------------------------------------------------------


def test_parity_auc_of_hand_built_scores():
    hits = [1, 0]
    # every forget score above every holdout score: members stand out
    above = parity_measures([-1.0, -0.5, -0.2], [-3.0, -2.5], hits, hits)
    assert above["parity_auc"] == 1.0
    # interleaved: forget 1 loses to 2 and 3, forget 4 beats both: 2 wins of 4 pairs
    assert parity_measures([1.0, 4.0], [2.0, 3.0], hits, hits)["parity_auc"] == 0.5
    # all ties: each pair half a win
    assert parity_measures([1.0, 1.0], [1.0, 1.0, 1.0], hits, hits)["parity_auc"] == 0.5
    # forget 1 beats nothing, forget 3 beats 2 only: 1 win of 4
    assert parity_measures([1.0, 3.0], [2.0, 4.0], hits, hits)["parity_auc"] == 0.25
    # all below: the forget items look stranger than strangers
    assert parity_measures([-9.0, -8.0], [-1.0, -2.0, -3.0], hits, hits)["parity_auc"] == 0.0


def test_parity_accuracies_are_means_of_the_hits():
    measures = parity_measures([0.0, 1.0], [0.5], [1, 0, 0, 1], [False, False, True])
    assert measures == {
        "parity_auc": 0.5,  # forget 0 loses to 0.5, forget 1 beats it
        "forget_accuracy": 0.5,
        "holdout_accuracy": pytest.approx(1 / 3),
        "forget_degenerate": 0.0,  # not given: no degenerate answers
        "retain_kept": 1.0,  # not given: nothing lost
        "forget_same_answer": 0.0,  # not given: no two answers alike
        "holdout_same_answer": 0.0,
        "forget_ill_formed": 0.0,  # not given: every answer well-formed
        "holdout_ill_formed": 0.0,
    }
    assert parity_measures([1.0], [0.0], [True], [True])["forget_accuracy"] == 1.0


def test_parity_measures_need_answers_and_scores_on_both_sides():
    with pytest.raises(ValueError, match="at least one forget and one holdout"):
        parity_measures([1.0], [0.0], [], [1])
    with pytest.raises(ValueError, match="at least one forget and one holdout"):
        parity_measures([1.0], [0.0], [1], [])
    with pytest.raises(ValueError):
        parity_measures([], [0.0], [1], [1])


def measures(auc, forget_accuracy=0.0, holdout_accuracy=0.0):
    return {
        "parity_auc": auc,
        "forget_accuracy": forget_accuracy,
        "holdout_accuracy": holdout_accuracy,
    }


def test_parity_distance_inside_and_outside_the_band():
    band = TIGHT
    # AUC 0.55: 0.05/0.1 = 0.5; accuracy gap 0.12-0.10 = 0.02: 0.02/0.05 = 0.4; the larger counts
    assert parity_distance(measures(0.55, 0.12, 0.10), band) == pytest.approx(0.5)
    # AUC 0.52 (0.2), gap 0.04 (0.8): the accuracy counts
    assert parity_distance(measures(0.52, 0.14, 0.10), band) == pytest.approx(0.8)
    # AUC 0.9: 0.4/0.1 = 4: outside
    assert parity_distance(measures(0.9), band) == pytest.approx(4.0)
    # gap 0.3: 6 band widths
    assert parity_distance(measures(0.5, 0.4, 0.1), band) == pytest.approx(6.0)
    # exactly on the edge (binary-exact numbers): 0.125 / 0.125
    edge = ParityBand(auc_tolerance=0.125, accuracy_tolerance=0.25)
    assert parity_distance(measures(0.625), edge) == 1.0
    assert parity_distance(measures(0.5, 0.75, 0.5), edge) == 1.0
    assert parity_distance(measures(0.5, 0.5, 0.5), edge) == 0.0


def test_parity_distance_auc_is_two_sided_accuracy_one_sided():
    band = TIGHT
    below, above = parity_distance(measures(0.3), band), parity_distance(measures(0.7), band)
    assert below == pytest.approx(2.0) and above == pytest.approx(2.0)
    # forget accuracy below the holdout's: guessing worse than chance does not count
    assert parity_distance(measures(0.5, 0.0, 0.6), band) == 0.0
    # the same gap the other way round is 0.6/0.05 = 12 band widths
    assert parity_distance(measures(0.5, 0.6, 0.0), band) == pytest.approx(12.0)


def test_parity_distance_without_auc_counts_only_the_accuracies():
    band = ParityBand(use_auc=False)
    assert parity_distance(measures(1.0, 0.1, 0.1), band) == 0.0
    assert parity_distance(measures(0.0, 0.2, 0.1), band) == pytest.approx(2.0)
    assert parity_distance(measures(1.0, 0.2, 0.1), TIGHT) == pytest.approx(5.0)


def test_overshot():
    band = ParityBand(auc_tolerance=0.125)  # the lower edge is 0.375 exactly
    assert overshot(measures(0.37), band)
    assert overshot(measures(0.0), band)
    assert not overshot(measures(0.375), band)  # on the edge is inside
    assert not overshot(measures(0.5), band)
    assert not overshot(measures(0.9), band)  # far from parity, but on the near side
    # accuracies do not overshoot: forget far below holdout is not "past parity"
    assert not overshot(measures(0.5, 0.0, 1.0), band)
    # without the AUC nothing can tell an overshoot
    assert not overshot(measures(0.0), ParityBand(use_auc=False))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"auc_tolerance": 0.0}, "auc_tolerance"),
        ({"auc_tolerance": -0.1}, "auc_tolerance"),
        ({"auc_tolerance": 0.5}, "auc_tolerance"),
        ({"auc_tolerance": 0.7}, "auc_tolerance"),
        ({"accuracy_tolerance": 0.0}, "accuracy_tolerance"),
        ({"accuracy_tolerance": 1.0}, "accuracy_tolerance"),
        ({"accuracy_tolerance": -0.05}, "accuracy_tolerance"),
        ({"same_answer_tolerance": 0.0}, "same_answer_tolerance"),
        ({"same_answer_tolerance": 1.0}, "same_answer_tolerance"),
    ],
)
def test_parity_band_rejects_impossible_tolerances(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ParityBand(**kwargs)


def test_parity_band_accepts_values_just_inside():
    band = ParityBand(auc_tolerance=0.49, accuracy_tolerance=0.99, use_auc=False)
    assert (band.auc_tolerance, band.accuracy_tolerance, band.use_auc) == (0.49, 0.99, False)


# --- the stop rule -----------------------------------------------------------------------------


def observed(script, band=None):
    """A ParityStop fed (step, measures) pairs; returns it, its verdicts and `improved` flags."""
    stop = ParityStop(band or TIGHT)
    verdicts, improved = [], []
    for step, m in script:
        verdicts.append(stop.observe(step, m))
        improved.append(stop.improved)
    return stop, verdicts, improved


# distances with the default band (auc 0.1, accuracy 0.05):
APPROACH = [
    (0, measures(0.95, 0.8, 0.1)),  # max(0.7/0.05, 0.45/0.1) = 14
    (10, measures(0.75, 0.3, 0.1)),  # max(4, 2.5) = 4
    (20, measures(0.58, 0.12, 0.1)),  # max(0.4, 0.8) = 0.8: inside
]
# the AUC jumps past parity: 0.8 (distance 3) to 0.1 (distance 4, and below 0.4)
JUMP_PAST = [
    (0, measures(1.0, 0.5, 0.1)),  # max(8, 5) = 8
    (10, measures(0.8, 0.1, 0.1)),  # 3
    (20, measures(0.1, 0.0, 0.1)),  # 4, overshot
]
NEVER = [
    (0, measures(1.0)),  # 5
    (10, measures(0.9)),  # 4
    (20, measures(0.8)),  # 3
    (30, measures(0.85)),  # 3.5
]


def test_a_run_that_approaches_the_band_reaches_it_at_the_right_step():
    stop, verdicts, improved = observed(APPROACH)
    assert verdicts == [CONTINUE, CONTINUE, REACHED]
    assert improved == [True, True, True]
    assert stop.first_reached.step == 20 and stop.best.step == 20
    assert stop.best.distance == pytest.approx(0.8)
    assert stop.overshoot is None


def test_reaching_stays_reached_and_best_follows_the_closest():
    extra = [
        (30, measures(0.52, 0.1, 0.1)),  # 0.2: closer, improved
        (40, measures(0.56, 0.1, 0.1)),  # 0.6: inside but not closer
    ]
    stop, verdicts, improved = observed(APPROACH + extra)
    assert verdicts == [CONTINUE, CONTINUE, REACHED, REACHED, REACHED]
    assert improved == [True, True, True, True, False]
    assert stop.first_reached.step == 20  # the first time, not the best
    assert stop.best.step == 30


def test_a_jump_past_parity_overshoots_and_keeps_the_closer_earlier_state():
    stop, verdicts, improved = observed(JUMP_PAST)
    assert verdicts == [CONTINUE, CONTINUE, OVERSHOT]
    assert improved == [True, True, False]  # the overshoot (4) is further than step 10 (3)
    assert stop.best.step == 10 and stop.best.distance == pytest.approx(3.0)
    assert stop.overshoot.step == 20 and stop.overshoot.distance == pytest.approx(4.0)
    assert stop.first_reached is None


def test_an_overshoot_closer_than_before_is_the_state_to_keep():
    stop, verdicts, improved = observed([(0, measures(0.9)), (10, measures(0.35))])
    # 0.9: 4; 0.35: 1.5, below 0.4: overshot, yet closer
    assert verdicts == [CONTINUE, OVERSHOT]
    assert improved == [True, True]
    assert stop.best.step == 10 and stop.overshoot.step == 10


def test_a_tie_keeps_the_earlier_state():
    band = ParityBand(auc_tolerance=0.125)  # 0.75 and 0.25 both exactly 2 band widths off
    stop, verdicts, improved = observed([(0, measures(0.75)), (10, measures(0.25))], band)
    assert verdicts == [CONTINUE, OVERSHOT]
    assert improved == [True, False]
    assert stop.best.step == 0


def test_a_run_that_never_reaches_parity_continues_every_time():
    stop, verdicts, improved = observed(NEVER)
    assert verdicts == [CONTINUE] * 4
    assert improved == [True, True, True, False]
    summary = stop.summary()
    assert summary["reached"] is False
    assert summary["reached_at"] is None and summary["overshot_at"] is None
    assert summary["closest"]["step"] == 20
    assert summary["closest"]["distance"] == 3.0
    assert summary["closest"]["parity_auc"] == 0.8


def test_summary_contents():
    band = ParityBand(auc_tolerance=0.2, accuracy_tolerance=0.1)
    script = [
        (0, measures(0.9, 0.5, 0.2)),  # max(0.3/0.1, 0.4/0.2) = 3
        (5, measures(0.6, 0.25, 0.2)),  # max(0.5, 0.5) = 0.5: reached
        (10, measures(0.1, 0.0, 0.2)),  # 0.4/0.2 = 2, below 0.3: overshot
    ]
    stop, _, _ = observed(script, band)
    summary = stop.summary()
    assert summary["band"] == {
        "auc_tolerance": 0.2,
        "accuracy_tolerance": 0.1,
        "fluency_tolerance": 0.1,
        "retain_tolerance": 0.05,
        "uses_auc": True,
    }
    assert summary["reached"] is True
    assert summary["reached_at"] == {
        "step": 5,
        "distance": 0.5,
        "parity_auc": 0.6,
        "forget_accuracy": 0.25,
        "holdout_accuracy": 0.2,
    }
    assert summary["closest"] == summary["reached_at"]
    assert summary["overshot_at"] == {
        "step": 10,
        "distance": 2.0,
        "parity_auc": 0.1,
        "forget_accuracy": 0.0,
        "holdout_accuracy": 0.2,
    }


def test_summary_rounds_the_distance_and_copies_the_measures():
    m = measures(0.5, 1 / 3, 0.0)  # (1/3) / 0.05 = 6.666...
    stop = ParityStop(TIGHT)
    stop.observe(7, m)
    m["parity_auc"] = 0.99  # the caller's dict changes later; the record does not
    closest = stop.summary()["closest"]
    assert closest["distance"] == 6.6667
    assert closest["parity_auc"] == 0.5
    assert stop.summary()["band"]["uses_auc"] is True
    assert ParityStop(ParityBand(use_auc=False)).summary()["band"]["uses_auc"] is False


def test_summary_before_any_observation():
    summary = ParityStop(TIGHT).summary()
    assert summary["reached"] is False
    assert summary["reached_at"] is summary["overshot_at"] is summary["closest"] is None


# --- the training loop's account of parity -----------------------------------------------------


def test_outcome_without_a_parity_stop_is_not_measurable():
    outcome = parity_outcome(default_config("embedded", stop_at="parity"), None, 12)
    assert outcome["measurable"] is False
    assert outcome["rule"] == "parity" and outcome["trained_steps"] == 12
    assert outcome["kept_step"] == 12
    assert "holdout" in outcome["why"]
    assert "stopped_because" not in outcome and "closest" not in outcome


def test_outcome_under_the_steps_rule_keeps_the_last_step():
    stop, _, _ = observed(APPROACH)  # reached at 20, but the rule says train all steps
    outcome = parity_outcome(default_config("embedded", stop_at="steps"), stop, 100)
    assert outcome["rule"] == "steps" and outcome["measurable"] is True
    assert outcome["kept_step"] == 100 and outcome["trained_steps"] == 100
    assert outcome["stopped_because"] == "all steps done"
    assert outcome["reached"] is True and outcome["reached_at"]["step"] == 20


def test_outcome_when_parity_is_reached():
    stop, _, _ = observed(APPROACH)
    outcome = parity_outcome(default_config("embedded", stop_at="parity"), stop, 20)
    assert outcome["stopped_because"] == "parity reached"
    assert outcome["kept_step"] == 20 and outcome["trained_steps"] == 20
    assert outcome["measurable"] is True and outcome["reached"] is True
    assert outcome["band"]["auc_tolerance"] == 0.1  # the band the stop rule used


def test_outcome_when_already_at_parity_before_unlearning():
    stop, verdicts, _ = observed([(0, measures(0.53, 0.0, 0.0))])
    assert verdicts == [REACHED]
    outcome = parity_outcome(default_config("embedded", stop_at="parity"), stop, 0)
    assert outcome["stopped_because"] == "already at parity before unlearning"
    assert outcome["kept_step"] == 0 and outcome["trained_steps"] == 0


def test_outcome_after_an_overshoot_keeps_the_closer_earlier_step():
    stop, _, _ = observed(JUMP_PAST)
    outcome = parity_outcome(default_config("embedded", stop_at="parity"), stop, 20)
    assert outcome["stopped_because"] == "went past parity"
    assert outcome["kept_step"] == 10
    assert outcome["overshot_at"]["step"] == 20 and outcome["reached"] is False


def test_outcome_at_the_step_ceiling_keeps_the_closest_step():
    stop, _, _ = observed(NEVER)
    outcome = parity_outcome(default_config("embedded", stop_at="parity"), stop, 30)
    assert outcome["stopped_because"] == "step ceiling, parity not reached"
    assert outcome["kept_step"] == 20 and outcome["trained_steps"] == 30
    assert outcome["reached"] is False and outcome["overshot_at"] is None


# --- a real, tiny run --------------------------------------------------------------------------


def tiny_run(tokenizer, small_task, **changes):
    config = small_config(steps=4, **changes)
    events = []
    loaded = loaded_tiny("llama", tokenizer)
    result = run_unlearning(config, on_event=events.append, task=small_task, loaded=loaded)
    assert result.status == "finished", result.reason
    return result, events


def test_a_real_run_at_parity_from_the_start_trains_no_step(tokenizer, small_task):
    # A random model also stutters, and on 32 + 32 items of a few facts its likelihoods of
    # forget and holdout answers differ by their tokens alone (AUC ~0.14 with the embedded
    # tokenizer): the widest tolerances let this test look at the stop rule alone.
    result, events = tiny_run(
        tokenizer,
        small_task,
        stop_at="parity",
        parity_fluency_tolerance=0.9,
        parity_auc_tolerance=0.45,
    )
    evaluations = result.report["history"]["evaluations"]
    # a random model knows neither the forget nor the holdout answers: at parity at step 0
    assert [e["step"] for e in evaluations] == [0]
    assert evaluations[0]["metrics"]["parity_distance"] <= 1.0
    assert result.report["history"]["steps"] == []
    assert [e for e in events if e.kind == "step"] == []
    parity = result.report["parity"]
    assert parity["stopped_because"] == "already at parity before unlearning"
    assert parity["kept_step"] == 0 and parity["trained_steps"] == 0
    assert parity["reached_at"]["step"] == 0 and parity["measurable"] is True


def test_a_real_run_under_the_steps_rule_reports_every_evaluation(tokenizer, small_task):
    result, events = tiny_run(tokenizer, small_task, stop_at="steps")
    parity = result.report["parity"]
    assert parity["rule"] == "steps" and parity["stopped_because"] == "all steps done"
    assert parity["trained_steps"] == 4 and parity["kept_step"] == 4
    evaluations = result.report["history"]["evaluations"]
    assert [e["step"] for e in evaluations] == [0, 2, 4]
    # the rule saw each live evaluation's measures: its closest is the smallest live distance
    distances = [e["metrics"]["parity_distance"] for e in evaluations]
    closest = min(range(3), key=lambda i: distances[i])
    assert parity["closest"]["step"] == evaluations[closest]["step"]
    assert parity["closest"]["distance"] == round(distances[closest], 4)
    assert parity["closest"]["parity_auc"] == evaluations[closest]["metrics"]["parity_auc"]
    assert parity["reached"] == any(d <= 1.0 for d in distances)
    # a parity event after the last step and before the final measurement, and again once the
    # final measurement says whether the verdict holds on its larger item sets
    kinds = [(e.kind, e.data.get("stage")) for e in events]
    parity_at = kinds.index(("parity", None))
    assert [k for k, _ in kinds].count("parity") == 2
    assert max(i for i, (k, _) in enumerate(kinds) if k == "step") < parity_at
    assert kinds.index(("stage", STAGES[2])) == parity_at + 1
    assert events[parity_at].data is parity and events[parity_at].step == 4
    final = parity["final"]
    after = result.report["metrics"]["after"]
    assert final["forget_accuracy"] == after["forget_accuracy"]
    assert final["holdout_accuracy"] == parity["closest"]["holdout_accuracy"]
    assert final["holds"] == (final["distance"] <= 1.0) and final["holds"] == (not final["outside"])


def test_degenerate_answers_keep_a_run_from_parity():
    """Fluent, wrong and unfamiliar is parity; the same with stuttering answers is not."""
    band = ParityBand(auc_tolerance=0.1, accuracy_tolerance=0.05, fluency_tolerance=0.1)
    fluent = {"parity_auc": 0.5, "forget_accuracy": 0.05, "holdout_accuracy": 0.05}
    assert parity_distance({**fluent, "forget_degenerate": 0.05}, band) == pytest.approx(0.5)
    assert parity_distance({**fluent, "forget_degenerate": 0.3}, band) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        ParityBand(fluency_tolerance=0.0)


def test_a_run_that_lost_the_retain_set_is_not_at_parity():
    """A model retrained without the forget set still knows the rest."""
    band = ParityBand(retain_tolerance=0.05)
    forgotten = {"parity_auc": 0.5, "forget_accuracy": 0.05, "holdout_accuracy": 0.05}
    assert parity_distance({**forgotten, "retain_kept": 0.98}, band) == pytest.approx(0.4)
    assert parity_distance({**forgotten, "retain_kept": 0.8}, band) == pytest.approx(4.0)
    assert parity_distance({**forgotten, "retain_kept": 1.1}, band) == 0.0  # gaining is fine
    with pytest.raises(ValueError):
        ParityBand(retain_tolerance=1.0)


# --- one answer to every question -----------------------------------------------------------


def test_same_answer_share_counts_the_commonest_last_word():
    collapsed = [
        "Quiliam Feirrow works as coral.",
        "Jaceth Tyvton's favourite colour is coral.",
        "Quiliam Feirrow plays the coral.",
        "Riaisuv Fivane was born in Corvass.",
    ]
    assert same_answer_share(collapsed) == pytest.approx(3 / 4)  # "coral" ends three of four
    varied = [FLUENT, "Quiliam Feirrow works as a botanist.", "Jaceth Tyvton plays the cello."]
    assert same_answer_share(varied) == pytest.approx(1 / 3)  # every last word once
    # case and the possessive fold as words() does; an empty answer has the empty last word
    assert same_answer_share(["Coral.", "coral's", ""]) == pytest.approx(2 / 3)
    assert math.isnan(same_answer_share([]))


def test_parity_distance_counts_one_answer_everywhere_beyond_the_strangers_level():
    band = ParityBand(same_answer_tolerance=0.125)
    inside = measures(0.5) | {"forget_same_answer": 0.1875, "holdout_same_answer": 0.0625}
    assert parity_distance(inside, band) == 1.0  # (0.1875 - 0.0625) / 0.125: on the edge
    collapsed = measures(0.5) | {"forget_same_answer": 0.5625, "holdout_same_answer": 0.0625}
    assert parity_distance(collapsed, band) == 4.0  # 0.5 / 0.125
    # answering more varied than the guesses about strangers is no fault
    varied = measures(0.5) | {"forget_same_answer": 0.0, "holdout_same_answer": 0.25}
    assert parity_distance(varied, band) == 0.0
    # the measures carry both shares
    both = parity_measures([0.0], [0.0], [0], [0], forget_same_answer=0.5, holdout_same_answer=0.1)
    assert (both["forget_same_answer"], both["holdout_same_answer"]) == (0.5, 0.1)


def test_the_band_defaults_to_the_run_defaults():
    band, config = ParityBand(), RunConfig()
    assert band.auc_tolerance == config.parity_auc_tolerance
    assert band.accuracy_tolerance == config.parity_accuracy_tolerance
    assert band.fluency_tolerance == config.parity_fluency_tolerance
    assert band.retain_tolerance == config.parity_retain_tolerance
    assert band.same_answer_tolerance == config.parity_same_answer_tolerance


def test_smollm2_stops_only_at_its_never_learned_level_and_hub_models_keep_the_band():
    """SmolLM2's target is the never-learned level itself. Its live check asks 27 forget
    questions against 32 never-learned ones, of which the original model gets 1 right: one
    right forget answer (1/27 = 0.037) is above that level and must not stop the run, none
    must; a hub model keeps the general band, where even two right answers (0.074, within 0.05
    of the level) are parity, as SmolLM2's runs stopped before."""
    level = [1] + [0] * 31

    def check(right: int) -> dict:
        return parity_measures([0.0], [0.0], [1] * right + [0] * (27 - right), level)

    strict = parity_band(default_config("smollm2-135m"), use_auc=False)
    script = [(30, check(2)), (40, check(1)), (50, check(0))]
    stop, verdicts, _ = observed(script, strict)
    assert verdicts == [CONTINUE, CONTINUE, REACHED]
    assert stop.first_reached.step == 50
    hub = parity_band(RunConfig(**HUB_DEFAULTS), use_auc=False)
    stop, verdicts, _ = observed(script, hub)
    assert verdicts == [REACHED, REACHED, REACHED]


# --- the final measurement's verdict ----------------------------------------------------------

LIVE = {"holdout_accuracy": 0.05, "holdout_ill_formed": 0.08, "holdout_same_answer": 0.06}
BEFORE = {"retain_answer_prob": 0.9}


def test_a_final_measurement_inside_the_band_holds():
    after = {"forget_accuracy": 0.06, "mia_auc": 0.48, "forget_ill_formed": 0.1,
             "retain_answer_prob": 0.89}  # fmt: skip
    final = final_check(BEFORE, after, LIVE, ParityBand())
    assert final["holds"] and final["outside"] == []
    assert final["retain_kept"] == pytest.approx(0.89 / 0.9)


def test_a_drift_out_of_the_band_says_what_is_out_with_its_figures():
    # SimNPO + CLReg, issue 32: "reached parity at step 60", then 0.15 and AUC 0.68 in the end
    after = {"forget_accuracy": 0.15, "mia_auc": 0.68, "forget_ill_formed": 0.35,
             "retain_answer_prob": 0.9}  # fmt: skip
    final = final_check(BEFORE, after, LIVE, ParityBand())
    assert not final["holds"] and final["distance"] == pytest.approx((0.35 - 0.08) / 0.1)
    assert final["outside"] == [
        "forget accuracy 0.15 vs chance 0.05",
        "membership AUC 0.68",
        "35% of forget answers not well-formed (about strangers 8%)",
    ]
    parity = {"measurable": True, "stopped_because": "parity reached", "final": final}
    assert final_text(parity) == (
        "; but the final measurement drifted out of the band: forget accuracy 0.15 vs chance "
        "0.05, membership AUC 0.68, 35% of forget answers not well-formed (about strangers 8%)"
    )
    assert final_text({**parity, "final": {**final, "holds": True}}) == (
        "; the final measurement agrees"
    )
    assert final_text({"measurable": True}) == ""  # before the final measurement


def test_without_a_membership_auc_the_accuracies_decide_the_final_verdict():
    after = {"forget_accuracy": 0.04, "retain_answer_prob": 0.9}  # a pack: no AUC measured
    final = final_check(BEFORE, after, LIVE, ParityBand(use_auc=True))
    assert final["holds"] and "parity_auc" not in final


def test_a_pack_run_is_held_against_its_never_learned_questions_not_strangers():
    # SmolLM2 on a topic pack: no strangers of the pack's kind, no AUC; the words say what the
    # forget answers were held against (issue 32: "the words say 'people' for elements")
    from clreg_core.cli import live_parity_line, parity_line

    after = {"forget_accuracy": 0.5, "forget_ill_formed": 0.25, "retain_answer_prob": 0.9}
    final = final_check(BEFORE, after, {**LIVE, "holdout_accuracy": 0.0}, ParityBand(use_auc=False))
    assert final["outside"] == [
        "forget accuracy 0.50 vs the never-learned level 0.00",
        "25% of forget answers not well-formed (on never-learned questions 8%)",
    ]
    live = {"parity_auc": 1.0, "parity_uses_auc": 0.0, "parity_distance": 10.0,
            "forget_accuracy": 0.38, "holdout_accuracy": 0.0, "forget_degenerate": 0.0,
            "forget_ill_formed": 0.0}  # fmt: skip
    line = live_parity_line(live)
    assert "AUC" not in line and "strangers" not in line
    assert "vs the never-learned level 0.00" in line and "distance to parity 10.00" in line
    assert "membership AUC 1.00" in live_parity_line({**live, "parity_uses_auc": 1.0})
    closest = {"step": 5, **live, "forget_same_answer": 0.12, "holdout_same_answer": 0.25,
               "holdout_ill_formed": 0.0}  # fmt: skip
    report = {"measurable": True, "stopped_because": "step ceiling, parity not reached",
              "kept_step": 5, "trained_steps": 10, "band": {"uses_auc": False},
              "closest": closest, "final": final}  # fmt: skip
    line = parity_line(report)
    assert "AUC" not in line and "strangers" not in line
    assert "answers all alike 0.12 (on never-learned questions 0.25)" in line
