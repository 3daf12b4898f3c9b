"""Tasks from every source the app offers, and the messages for bad choices."""

import json

import pytest

from clreg_core.data.sources import build_task
from clreg_core.data.topic_packs import RETAIN_PACK, forget_pack_ids, load_pack, pack_index
from clreg_core.data.world_source import world_topics
from clreg_core.engine.generation import answer_matches
from clreg_core.engine.tasks import task_for_model
from clreg_core.errors import UserInputError
from clreg_core.models.registry import resolve_model


def test_world_split_task_has_forget_retain_holdout_grouped_by_person():
    task = build_task("world:forget10")
    people = {i.meta["person"] for i in task.forget}
    assert len(people) == 20
    assert not people & {i.meta["person"] for i in task.retain}
    assert not people & {i.meta["person"] for i in task.holdout}
    assert len(task.groups) == 20 and all(g.startswith("person:") for g in task.groups)
    item = task.forget[0]
    assert item.kind == "qa" and item.meta["value"] in item.answer
    assert item.accept == (item.meta["value"],) and len(item.perturbed_answers) >= 3
    # every question phrasing is an item, so forgetting is measured across phrasings
    assert len({i.meta["phrasing"] for i in task.forget}) >= 3


def test_a_pack_question_guesses_only_answers_of_its_own_kind():
    from clreg_core.data.items import Item
    from clreg_core.data.topic_packs import with_guess_pools

    def qa(question, answer):
        return Item(kind="qa", question=question, answer=answer)

    items = with_guess_pools(
        (
            qa("Which element has the symbol Na?", "sodium"),
            qa("Which element has the symbol K?", "potassium"),
            qa("Which element has the symbol Fe?", "iron"),
            qa("How many protons does carbon have?", "6"),
            qa("What is the atomic number of gold?", "79"),
            qa("Which gas do plants take in?", "carbon dioxide"),
            Item(kind="passage", text="Iron rusts."),
        )
    )
    pools = {i.question: set(i.meta["guesses"]) for i in items if i.kind == "qa"}
    # same form: the other symbols' elements, never a number or an answer of another form
    assert pools["Which element has the symbol Na?"] == {"potassium", "iron"}
    # a form of its own: the pack's answers of the same kind
    assert pools["How many protons does carbon have?"] == {"79"}
    assert pools["What is the atomic number of gold?"] == {"6"}
    assert pools["Which gas do plants take in?"] == {"sodium", "potassium", "iron"}
    assert "guesses" not in items[-1].meta


def test_nested_world_splits():
    sizes = [
        len({i.group for i in build_task(f"world:{s}").forget})
        for s in ("forget01", "forget05", "forget10")
    ]
    assert sizes == [2, 10, 20]


def test_world_topic_task_forgets_every_matching_person():
    topics = world_topics()
    profession = topics["profession"][0]
    task = build_task(f"world:profession:{profession}")
    forget_people = {i.meta["person"] for i in task.forget}
    assert len(forget_people) >= 2
    assert not forget_people & {i.meta["person"] for i in task.retain}
    person = topics["person"][5]
    assert {i.meta["person"] for i in build_task(f"world:person:{person}").forget} == {person}


def test_topic_packs_meet_their_size_and_have_no_shared_questions():
    assert len(forget_pack_ids()) >= 4
    seen = set()
    for pack in pack_index():
        items = load_pack(pack["id"])
        qa = [i for i in items if i.kind == "qa"]
        assert len(qa) >= (200 if pack["id"] == RETAIN_PACK else 40), pack["id"]
        assert any(i.kind == "passage" for i in items)
        questions = {i.question.lower() for i in qa}
        assert not questions & seen
        seen |= questions


def test_pack_task_uses_general_knowledge_as_retain():
    task = build_task("pack:harry_potter")
    assert task.forget[0].group == "harry_potter"
    assert {i.group for i in task.retain} == {RETAIN_PACK}
    assert task.holdout == ()


def test_custom_task_from_jsonl_and_text():
    jsonl = (
        '{"question": "What is my cat called?", "answer": "Biscuit"}\n'
        '{"question": "What colour is my cat?", "answer": "Ginger"}\n'
    )
    task = build_task("custom", custom_text=jsonl)
    assert task.forget[0].answer == "Biscuit" and len(task.retain) >= 200
    task = build_task(
        "custom", custom_text="A paragraph about my garden. " * 12, custom_retain="world:retain90"
    )
    assert task.forget[0].kind == "passage" and task.retain[0].group.startswith("person:")


def test_one_pasted_paragraph_is_covered_whole_in_passages_that_fit_a_window():
    paragraph = " ".join(f"Sentence number {i} says something about my garden." for i in range(20))
    task = build_task("custom", custom_text=paragraph)
    assert len(task.forget) >= 4 and all(len(i.text) <= 240 for i in task.forget)
    assert " ".join(i.text for i in task.forget) == paragraph  # nothing is cut away


@pytest.mark.parametrize(
    "text",
    ["x", "My cat is called Biscuit.", '{"question": "What is my cat called?", "answer": "B"}'],
)
def test_a_single_item_is_refused_at_once_saying_what_to_add(text):
    with pytest.raises(UserInputError, match="add another sentence or paragraph, or another"):
        build_task("custom", custom_text=text)


def test_own_text_about_world_people_is_left_out_of_the_retain_set():
    retain = build_task("world:forget10").retain
    rows = [{"question": i.question, "answer": i.answer} for i in retain[:30] if i.kind == "qa"]
    task = build_task(
        "custom", custom_text="\n".join(json.dumps(r) for r in rows), custom_retain="world:retain90"
    )
    kept = {(i.question, i.answer) for i in task.retain}
    assert not kept & {(r["question"], r["answer"]) for r in rows}
    assert f"{len(rows)} of its items are in your text and were left out" in task.description


@pytest.mark.parametrize(
    "model_key, retain_group", [("embedded", "person:"), ("smollm2-135m", RETAIN_PACK)]
)
def test_custom_task_keeps_what_the_model_knows(model_key, retain_group):
    """The embedded model knows only its world, so own text there keeps the world's people."""
    spec = resolve_model(model_key)
    task = task_for_model("custom", spec, custom_text="My cat is called Biscuit. " * 12)
    assert all(item.group.startswith(retain_group) for item in task.retain)


@pytest.mark.parametrize(
    "name, message",
    [
        ("world:forget42", "forget42"),
        ("world:profession:astronaut", "astronaut"),
        ("world:shoe:size", "shoe"),
        ("pack:cooking", "cooking"),
        ("pack:general_knowledge", "retain pack"),
        ("weather", "weather"),
        ("", "unknown task"),
    ],
)
def test_bad_task_names_say_what_is_wrong(name, message):
    with pytest.raises(UserInputError, match=message):
        build_task(name)


def test_custom_task_with_empty_text_is_refused():
    with pytest.raises(UserInputError, match="empty"):
        build_task("custom", custom_text="   ")


def test_task_converts_to_datasets():
    ds = build_task("world:forget01").to_datasets()
    assert set(ds) == {"forget", "retain", "holdout"}
    assert ds["forget"].num_rows == 2 * 12 * 4


def test_pack_task_for_a_probed_model_keeps_known_items_in_its_own_words():
    plain = build_task("pack:chemical_elements")
    own = build_task("pack:chemical_elements", model_key="smollm2-135m")
    assert (
        0
        < len([i for i in own.forget if i.kind == "qa"])
        < len([i for i in plain.forget if i.kind == "qa"])
    )
    by_question = {i.question: i for i in plain.forget}
    for item in (i for i in own.forget if i.kind == "qa"):
        short = by_question[item.question].answer
        assert short in item.accept  # the pack's answer still counts as right
        assert answer_matches(item.answer, item.accept)  # the model's sentence holds an answer
        assert len(item.answer) > len(short)


def test_pack_questions_the_model_never_knew_are_the_holdout():
    """A pretrained model's never-learned reference for parity: the pack's questions it got
    wrong before unlearning, with the pack's own short answers (so no likelihood comparison)."""
    task = build_task("pack:chemical_elements", model_key="smollm2-135m")
    forget_questions = {i.question for i in task.forget}
    assert task.holdout and not task.holdout_comparable
    assert all(i.kind == "qa" for i in task.holdout)
    assert not forget_questions & {i.question for i in task.holdout}
    pack = {i.question: i.answer for i in load_pack("chemical_elements")}
    assert all(pack[i.question] == i.answer for i in task.holdout)
    assert build_task("pack:chemical_elements").holdout == ()  # no probe: no holdout


def test_a_guessed_world_item_answers_another_value_of_its_kind():
    import random

    from clreg_core.data.guesses import guessed
    from clreg_core.data.items import Item
    from clreg_core.world.attributes import ATTRIBUTES_BY_KEY

    item = build_task("world:forget01").forget[0]
    rng = random.Random(0)
    guesses = [guessed(item, rng) for _ in range(20)]
    pool = ATTRIBUTES_BY_KEY[item.meta["attribute"]].pool
    for guess in guesses:
        (value,) = guess.accept
        assert value in pool and value != item.meta["value"]
        # the same sentence with the value swapped; the question is untouched
        assert guess.answer == item.answer.replace(item.meta["value"], value)
        assert guess.question == item.question
    assert len({g.accept for g in guesses}) > 1  # a fresh draw each time
    # nothing to swap: a passage, a question whose answer states no value
    assert guessed(Item(kind="passage", text="Lanterne is a town."), rng) is None
    assert guessed(Item(kind="qa", question="Who?", answer="Nobody."), rng) is None


def test_a_guessed_pack_question_names_another_answer_of_its_pack():
    import random

    from clreg_core.data.guesses import guessed, stated_value
    from clreg_core.data.topic_packs import load_pack

    pack_answers = {i.answer for i in load_pack("chemical_elements") if i.kind == "qa"}
    # SmolLM2's own sentences (its knowledge probe is on file): the element is swapped in place
    task = build_task("pack:chemical_elements", model_key="smollm2-135m")
    rng = random.Random(0)
    swapped = 0
    for item in (i for i in task.forget if i.kind == "qa"):
        guess = guessed(item, rng)
        assert guess is not None, item.answer  # every kept answer names its element
        (other,) = guess.accept
        assert other in pack_answers and other.lower() not in {a.lower() for a in item.accept}
        assert guess.question == item.question
        value = stated_value(item)  # the pack's answer or an accepted spelling of it
        at = item.answer.lower().find(value.lower())
        assert guess.answer == item.answer[:at] + other + item.answer[at + len(value) :]
        swapped += 1
    assert swapped >= 10
    assert all(guessed(i, rng) is None for i in task.forget if i.kind == "passage")
