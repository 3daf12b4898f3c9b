"""report.json says what its numbers mean (report["schema"], docs/report.md) and how many items
each measurement really used (report["evaluation_sizes"])."""

import dataclasses
import json

import pytest
from tiny_models import loaded_tiny, small_config, tiny_model

from clreg_core.app import run_tables
from clreg_core.data.items import UnlearningTask
from clreg_core.engine import report_schema, training
from clreg_core.engine.assessment import GOLD_RETAIN, Assessment
from clreg_core.engine.evaluation import qa_only
from clreg_core.engine.lora import decoder_blocks
from clreg_core.engine.provenance import REPO_ROOT
from clreg_core.engine.run_folder import _jsonable
from clreg_core.metrics import meanings

DOC = REPO_ROOT / report_schema.REPORT_DOC


@pytest.fixture(scope="module")
def tiny_run(tokenizer, small_task):
    """One finished tiny run with a (tiny, random) gold twin, and the assessment it used. The
    task is smaller than `final_eval_items` on its forget and holdout sides, so those are capped."""
    task = UnlearningTask(
        "small", small_task.forget[:12], small_task.retain[:24], small_task.holdout[:12]
    )
    loaded = loaded_tiny("llama", tokenizer)
    loaded.spec = dataclasses.replace(loaded.spec, gold_source="tiny-gold", gold_split="small")
    made: list[Assessment] = []

    def gold_twin(source, device, dtype=None):
        return loaded_tiny("qwen2", tokenizer)

    class Recorded(Assessment):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    config = small_config(steps=2, eval_every=2, eval_items=8, final_eval_items=16, seed=7)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "Assessment", Recorded)
        patch.setattr(training, "load_model", gold_twin)
        result = training.run_unlearning(config, task=task, loaded=loaded)
    assert result.status == "finished", result.reason
    (assessment,) = made
    return result.report, assessment, task


def test_evaluation_sizes_are_the_counts_actually_measured(tiny_run):
    report, assessment, task = tiny_run
    sizes = report["evaluation_sizes"]
    live, final, gold = sizes["live"], sizes["final"], sizes["gold"]

    points = report["history"]["evaluations"][0]["points"]
    assert (live["forget_items"], live["retain_items"]) == (
        len(points["forget"]),
        len(points["retain"]),
    )
    assert live["requested_per_side"] == 8 and live["holdout_items"] == 8

    assert final["requested_per_side"] == 16
    assert final["forget_items"] == len(assessment.forget) == len(task.forget) == 12  # capped
    assert final["retain_items"] == len(assessment.retain) == 16
    assert final["holdout_items"] == len(assessment.holdout) == 12  # capped
    assert final["forget_questions"] == len(qa_only(assessment.forget))
    assert final["retain_questions"] == len(qa_only(assessment.retain))
    assert final["membership_measured"] is True
    assert final["truth_ratio_facts"] > 0

    assert gold["forget_questions"] == final["forget_questions"]
    assert gold["holdout_items"] == final["holdout_items"]
    assert gold["retain_items"] == final["retain_items"]
    assert gold["retain_questions"] == min(GOLD_RETAIN, final["retain_questions"])
    for block in (live, final, gold):  # "feeds" names report fields (or after's metric keys)
        for field in block["feeds"].split(", "):
            name = field.split(".")[0].split(" ")[0]
            assert name in report or name in report["metrics"]["after"], field


def test_gold_holds_the_values_its_passes_already_give(tiny_run):
    report, _, _ = tiny_run
    gold = report["metrics"]["gold"]
    expected = {"forget_accuracy", "forget_answer_prob", "forget_degenerate", "forget_same_answer"}
    expected |= {"forget_distinct_2", "mia_auc", "truth_ratio"}
    # representations in the gold model's own space, the reference for the unlearned model's
    expected |= {"entanglement", "knn_separability", "linear_probe", "silhouette"}
    assert expected <= set(gold)
    blocks = len(gold["entanglement_by_layer"])
    assert blocks == len(decoder_blocks(tiny_model("qwen2")))  # the twin's blocks
    if "membership_probe" in report["metrics"]["before"]:  # both sides have 2+ people
        assert len(gold["membership_probe_by_layer"]) == blocks
        assert gold["membership_probe"] == gold["membership_probe_by_layer"][-1]
    assert not any(key.startswith("retain_") for key in gold)  # 8 questions: see docs/report.md
    assert {"forget_quality", "privleak"} <= set(report["metrics"]["after"])


def test_every_metric_in_the_report_has_a_meaning(tiny_run):
    report, _, _ = tiny_run
    schema = report["schema"]
    assert schema["doc"] == "docs/report.md" and (REPO_ROOT / schema["doc"]).is_file()
    for side in ("before", "after", "gold"):
        missing = set(report["metrics"][side]) - set(schema["metrics"])
        assert not missing, f"metrics.{side} keys without a meaning: {missing}"
    described = set(schema["metrics"]) | set(schema["live_metrics"])
    for evaluation in report["history"]["evaluations"]:
        assert set(evaluation["metrics"]) <= described
    for key, _, _, _ in run_tables.METRICS:
        assert set(schema["metrics"][key]) == {"name", "good_when", "meaning"}
        assert all(schema["metrics"][key].values())
    json.dumps(_jsonable(report))  # still a JSON document


def test_the_app_table_and_the_report_share_one_meanings_table():
    assert run_tables.METRICS is meanings.METRICS
    keys = [row[0] for row in meanings.METRICS + meanings.REPORT_ONLY + meanings.LIVE_ONLY]
    assert len(keys) == len(set(keys))


def test_the_doc_describes_every_top_level_key_and_metric(tiny_run):
    report, _, _ = tiny_run
    doc = DOC.read_text(encoding="utf-8")
    for key in report:
        assert f"**`{key}`**" in doc, f"docs/report.md does not describe report[{key!r}]"
    for key in report["schema"]["metrics"] | report["schema"]["live_metrics"]:
        assert f"| `{key}` |" in doc, f"docs/report.md has no row for {key}"
    assert report_schema.doc_with_tables(doc) == doc, (
        "docs/report.md's metric tables are stale: "
        "run python -m clreg_core.engine.report_schema --write"
    )
