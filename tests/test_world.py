"""The Fictional World: deterministic, well-formed, and the committed files match the generator."""

from itertools import combinations

import pytest

from clreg_core.world.attributes import ATTRIBUTES, article_for
from clreg_core.world.generator import NUM_PERTURBED, generate_world
from clreg_core.world.store import SPLIT_NAMES, WORLD_DIR, read_split, world_files


@pytest.fixture(scope="module")
def world():
    return generate_world()


def test_same_seed_same_world_and_other_seed_differs(world):
    assert world_files(generate_world()) == world_files(world)
    other = generate_world(seed=world.seed + 1)
    assert [p.name for p in other.people] != [p.name for p in world.people]


def test_committed_world_files_match_the_generator(world):
    for name, text in world_files(world).items():
        committed = (WORLD_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"assets/world/{name} is stale: run python -m clreg_core.world"


def test_size_and_attributes(world):
    assert len(world.trained_people) >= 200
    assert len({p.name for p in world.people}) == len(world.people)
    firsts = [p.name.split()[0] for p in world.people]
    assert len(set(firsts)) == len(firsts), "first names are used once each"
    assert len(ATTRIBUTES) >= 10
    for person in world.people:
        assert set(person.attributes) == {a.key for a in ATTRIBUTES}
    # Topic attributes must be shared by several people so topic-level forgetting makes sense.
    professions = [p.attributes["profession"] for p in world.trained_people]
    assert max(professions.count(v) for v in set(professions)) >= 5


def test_splits_are_nested_disjoint_and_cover_the_trained_people(world):
    s = {name: set(people) for name, people in world.splits.items()}
    trained = {p.name for p in world.trained_people}
    assert s["forget01"] < s["forget05"] < s["forget10"]
    for forget, retain in (
        ("forget01", "retain99"),
        ("forget05", "retain95"),
        ("forget10", "retain90"),
    ):
        assert not s[forget] & s[retain]
        assert s[forget] | s[retain] == trained
    assert not s["holdout"] & trained
    assert len(s["forget01"]) == round(0.01 * len(trained))
    assert len(s["forget10"]) == round(0.10 * len(trained))


def test_every_fact_has_phrasings_paraphrase_and_wrong_answers(world):
    for fact in world.facts:
        assert len(fact.questions) >= 3 and len(set(fact.questions)) == len(fact.questions)
        assert all(fact.person in q for q in fact.questions)
        assert fact.value in fact.answer and fact.value in fact.paraphrased_answer
        assert fact.paraphrased_answer != fact.answer
        assert len(set(fact.perturbed_answers)) == NUM_PERTURBED >= 3
        assert fact.answer not in fact.perturbed_answers
        # worded like the paraphrase (as TOFU perturbs its paraphrased answer), so a truth ratio
        # compares values, not wordings
        head = fact.paraphrased_answer.split(fact.value)[0].removesuffix("a ").removesuffix("an ")
        assert all(p.startswith(head) for p in fact.perturbed_answers), fact


def _prefixes(attribute):
    """Text before the value slot, for every sentence template and article."""
    out = set()
    for template in (attribute.answer, attribute.paraphrase, attribute.statement):
        head = template.split("{value}")[0]
        for article in ("a", "an"):
            out.add(head.format(name="NAME", article=article))
    return out


def test_no_template_prefix_makes_another_attribute_unanswerable():
    for a, b in combinations(ATTRIBUTES, 2):
        for pa in _prefixes(a):
            for pb in _prefixes(b):
                assert not pb.startswith(pa) and not pa.startswith(pb), (a.key, pa, b.key, pb)


def test_pool_values_are_distinct_words():
    for attribute in ATTRIBUTES:
        values = [v.lower() for v in attribute.pool]
        assert len(set(values)) == len(values) >= NUM_PERTURBED + 1
        for v, w in combinations(values, 2):
            assert f" {v} " not in f" {w} " and f" {w} " not in f" {v} ", (attribute.key, v, w)


def test_articles():
    assert article_for("astronomer") == "an" and article_for("beekeeper") == "a"


def test_committed_splits_read_back(world):
    for split in SPLIT_NAMES:
        facts = read_split(split)
        assert {f.person for f in facts} == set(world.splits[split])


def test_the_untuned_split_holds_15_trained_people_outside_every_forget_split():
    from clreg_core.data.sources import build_task
    from clreg_core.data.world_source import untuned_people

    task = build_task("world:untuned15", model_key="embedded")
    people = {i.meta["person"] for i in task.forget}
    assert people == set(untuned_people()) and len(people) == 15
    forget10 = {f.person for f in read_split("forget10")}
    holdout = {f.person for f in read_split("holdout")}
    assert not people & forget10 and not people & holdout
    assert not people & {i.meta["person"] for i in task.retain}
    assert {i.meta["person"] for i in task.holdout} == holdout
    assert untuned_people() == untuned_people()  # drawn with a fixed seed
