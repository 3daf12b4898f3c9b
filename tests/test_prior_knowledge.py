"""Nothing to forget: before a run on the user's own text, the model is asked what it knows of
it; a run on text it never knew stops there and says so, unless told to go on anyway."""

import json

import pytest

from clreg_core.config import default_config
from clreg_core.data.world_source import world_split_task
from clreg_core.engine.evaluation import Measurer, qa_only
from clreg_core.engine.prior_knowledge import what_it_knows
from clreg_core.engine.tasks import task_for_model
from clreg_core.engine.training import run_unlearning
from clreg_core.models.loading import load_model

NEW_FACTS = "\n".join(  # five facts about someone the embedded model never met (issue 32)
    json.dumps({"question": q, "answer": a})
    for q, a in (
        ("Where was Tomas Brell born?", "Tomas Brell was born in Oakvale."),
        ("What job does Tomas Brell have?", "Tomas Brell works as a tailor."),
        ("What pet does Tomas Brell keep?", "Tomas Brell keeps a pet ferret."),
        ("Which colour does Tomas Brell like best?", "Tomas Brell's favourite colour is mauve."),
        ("What instrument does Tomas Brell play?", "Tomas Brell plays the oboe."),
    )
)
NEW_PASSAGE = (
    "The lighthouse at Merrow Point was built in 1852 by a shipwright named Alder Voss, who "
    "later sailed to the southern islands and never returned.\n\nHis daughter Mira Voss kept "
    "the light for forty years and wrote a book about the tides of the bay, printed in Halden "
    "in 1901."
)


@pytest.fixture(scope="module")
def embedded():
    loaded = load_model("embedded")
    measurer = Measurer(loaded.model, loaded.tokenizer, loaded.prompt_style, 128, batch_size=16)
    return loaded, measurer


def knows(embedded, text: str) -> dict:
    loaded, measurer = embedded
    return what_it_knows(measurer, task_for_model("custom", loaded.spec, custom_text=text))


def test_questions_it_cannot_answer_are_unknown_and_its_own_facts_known(embedded):
    unknown = knows(embedded, NEW_FACTS)
    assert unknown["known"] is False and unknown["qa_right"] == 0 and unknown["qa_items"] == 5
    assert unknown["summary"] == "it answers 0 of 5 of your questions right"
    world = qa_only(list(world_split_task("forget10").forget))[:6]
    own = "\n".join(json.dumps({"question": i.question, "answer": i.answer}) for i in world)
    found = knows(embedded, own)
    assert found["known"] is True and found["qa_right"] >= 5


def test_a_passage_is_judged_against_prose_it_cannot_have_seen(embedded):
    unknown = knows(embedded, NEW_PASSAGE)
    assert unknown["known"] is False
    assert unknown["passage_loss"] > unknown["never_seen_level"] - 1.5
    forget = world_split_task("forget10", statements=True).forget
    biography = "\n\n".join(i.text for i in forget if i.kind == "passage")
    known = knows(embedded, biography)
    assert known["known"] is True and known["passage_loss"] < known["never_seen_level"] - 1.5


def test_a_run_on_text_the_model_never_knew_stops_before_training_unless_told(embedded):
    loaded, _ = embedded
    config = default_config(
        "embedded", task="custom", steps=2, eval_every=2, final_eval_items=8, stop_at="steps"
    )
    task = task_for_model("custom", loaded.spec, custom_text=NEW_FACTS)
    stopped = run_unlearning(config, task=task, loaded=loaded)
    assert stopped.status == "failed" and stopped.reason.startswith("nothing to forget")
    assert "answers 0 of 5" in stopped.reason and "--even-if-unknown" in stopped.reason
    assert stopped.report["history"]["steps"] == []  # no training
    assert stopped.report["prior_knowledge"]["known"] is False
    anyway = run_unlearning(
        config.with_changes(even_if_unknown=True), task=task, loaded=load_model("embedded")
    )
    assert anyway.status == "finished", anyway.reason
    assert len(anyway.report["history"]["steps"]) == 2
    assert anyway.report["prior_knowledge"]["known"] is False  # recorded all the same


def test_run_again_on_the_same_text_goes_on_anyway_for_a_run_or_an_a_b_pair():
    from types import SimpleNamespace

    from clreg_core.app.hosting import Hosting
    from clreg_core.app.run_queue import RunQueue
    from clreg_core.app.run_state import RunState
    from clreg_core.app.session import Session

    session = Session(Hosting(local_queue=RunQueue()))
    asked = default_config("embedded", task="custom")
    refused = RunState(asked.with_changes(clreg=False, device="cpu"))  # an A/B pair's first
    refused.mark_done("failed", "nothing to forget: the model does not know your text (...)")
    session.attempt = SimpleNamespace(custom_text=NEW_FACTS, runs=[refused])
    assert session._go_on_anyway(asked, NEW_FACTS).even_if_unknown is True
    assert session._go_on_anyway(asked, NEW_FACTS + "\n").even_if_unknown is False  # new text
    other = asked.with_changes(steps=7)
    assert session._go_on_anyway(other, NEW_FACTS).even_if_unknown is False  # new settings
    refused.reason = "stopped by the user"
    assert session._go_on_anyway(asked, NEW_FACTS).even_if_unknown is False
