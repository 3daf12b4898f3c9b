"""The guided tour speaks of the chosen topic: a pack's questions are not "people", a topic
without a gold model has no gold column to compare with, and a pack's parity panel shows a
distance, not the AUC (issue 32, part 3)."""

import app
from clreg_core.app.tour import TOUR_TARGETS, tour_steps


def test_the_default_lesson_teaches_the_auc_band_and_the_gold_model():
    steps = tour_steps("embedded", "world:forget10")
    assert len(steps) == len(TOUR_TARGETS) == 5
    assert "parity AUC falls into the green band" in steps[0]
    assert "*gold* column" in steps[1]
    assert "gold model answer side by side" in steps[3]
    assert "beside the gold model" in steps[4]
    assert not any("distance to parity" in step for step in steps)


def test_a_world_split_without_a_gold_model_is_held_against_strangers():
    steps = tour_steps("embedded", "world:forget05")
    assert "parity AUC" in steps[0]
    assert "no gold model for this topic" in steps[1] and "strangers" in steps[1]
    assert "gold" not in steps[3]
    assert "facts about strangers" in steps[4]


def test_a_topic_pack_is_named_and_judged_by_its_distance_to_parity():
    steps = tour_steps("smollm2-135m", "pack:japan")
    text = " ".join(steps)
    assert "the *Japan* questions" in steps[0]
    assert "distance to parity falls to 1 or below" in steps[0]
    assert "AUC falls" not in text and "green band" not in text
    assert "people" not in text and "strangers" not in text
    assert "*gold* column" not in text and "gold bars" not in text
    assert "questions it never knew" in steps[1] and "questions it never knew" in steps[4]


def test_own_text_is_named_as_such():
    steps = tour_steps("embedded", "custom")
    assert "the facts of your own text" in steps[0] and "people" not in " ".join(steps)


def test_the_page_changes_the_tour_with_the_topic():
    first = app.on_tour_change("embedded", "", "world:forget10")
    assert first == tour_steps("embedded", "world:forget10")
    # a typed model the host refuses: the tour follows the picked one, the other handlers say why
    assert app.on_tour_change("smollm2-135m", "/no/such/folder", "pack:japan") == tour_steps(
        "smollm2-135m", "pack:japan"
    )
