"""The app's logic without a browser: the run queue, the form, the session controller on the real
embedded model (single, A/B, stop, queue), figures, tables, exports and the CLI command."""

import copy
import json
import os
import shlex
import threading
import time
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from clreg_core.app import explore
from clreg_core.app.attempts import Attempt
from clreg_core.app.figures import layer_entanglement, live_curves, live_scatter, paper_view
from clreg_core.app.hosting import Hosting
from clreg_core.app.page import CURVES_EVERY_S
from clreg_core.app.run_export import cli_command, prune_exports
from clreg_core.app.run_queue import RunQueue
from clreg_core.app.run_state import KEPT_BEFORE_STAGE, RunState
from clreg_core.app.run_tables import (
    GOLD_ANSWER_COLUMN,
    GOLD_COLUMN,
    generations_table,
    metrics_table,
    table_note,
)
from clreg_core.app.session import Session
from clreg_core.app.ui_choices import (
    ADVANCED_FIELDS,
    advanced_defaults,
    config_from_form,
    run_choices,
)
from clreg_core.app.worker import WorkOrder, carry_out
from clreg_core.cli import build_parser, config_from_args
from clreg_core.config import ConfigError, default_config
from clreg_core.engine import phase_costs
from clreg_core.engine.training import Event
from clreg_core.errors import UserInputError
from clreg_core.models.registry import EMBEDDED, SMOLLM2

SMALL = dict(steps=6, eval_every=2, eval_items=16, final_eval_items=16)


def start(session: Session, config, **options) -> threading.Thread:
    """Set a run up and carry it out as the Run handler does, on a thread of its own."""
    session.start(config, **options)
    following = session.follow()
    thread = threading.Thread(target=lambda: [None for _ in following], daemon=True)
    thread.start()
    return thread


def attempt_for(config, queue: RunQueue | None = None) -> Attempt:
    """An embedded-model attempt placed as the app places one: on this process's CPU."""
    from clreg_core.engine.tasks import task_for_model

    config = config.with_changes(device="cpu")
    task = task_for_model(config.task, EMBEDDED)
    order = WorkOrder((config,), task)
    return Attempt([RunState(config)], task, None, order, carry_out, queue or RunQueue())


def wait_until(condition, timeout=600.0):  # a bound for a busy machine, not a target
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- the queue ---
def test_queue_serves_in_order_and_reports_positions():
    queue = RunQueue(slots=1)
    first, second, third = queue.join(), queue.join(), queue.join()
    assert [queue.position(t) for t in (first, second, third)] == [1, 2, 3]
    assert queue.wait_turn(first, give_up=lambda: False)
    assert [queue.position(t) for t in (first, second, third)] == [0, 1, 2]
    got_turn = []
    waiter = threading.Thread(
        target=lambda: got_turn.append(queue.wait_turn(second, lambda: False))
    )
    waiter.start()
    time.sleep(0.3)
    assert not got_turn  # the single slot is taken
    queue.release(first)
    waiter.join(5)
    assert got_turn == [True] and queue.position(third) == 1
    assert not queue.wait_turn(third, give_up=lambda: True)  # a stop while waiting leaves
    assert queue.position(third) == 0


# --- the form ---
def test_form_builds_the_models_defaults_and_rejects_bad_fields():
    # the panel as the page fills it when SimNPO is picked: SimNPO's own defaults
    config = config_from_form(
        "embedded", "world:forget05", "simnpo", False, 0.5,
        advanced_defaults("embedded", "simnpo", False),
    )  # fmt: skip
    assert config == default_config(
        "embedded", task="world:forget05", method="simnpo", clreg=False, clreg_weight=0.5
    )
    assert config.learning_rate != default_config("embedded").learning_rate  # not NPO's
    values = advanced_defaults("embedded")
    steps = [name for name, _, _ in ADVANCED_FIELDS].index("steps")
    for bad, message in ((0, "out of range"), (2.5, "whole number"), (None, "empty")):
        form = list(values)
        form[steps] = bad
        with pytest.raises(ConfigError, match=message):
            config_from_form("embedded", "world:forget10", "npo", True, 1.0, form)
    with pytest.raises(ConfigError, match="temperature"):
        form = list(values)
        form[[n for n, _, _ in ADVANCED_FIELDS].index("temperature")] = -1
        config_from_form("embedded", "world:forget10", "npo", True, 1.0, form)


def test_picking_a_method_fills_its_defaults_and_says_what_they_were_measured_to_do():
    import app

    graddiff = app.on_method_change("embedded", "", "graddiff", True)
    fields = dict(zip([n for n, _, _ in ADVANCED_FIELDS], graddiff[:-1], strict=True))
    assert fields["learning_rate"] == default_config(
        "embedded", method="graddiff", clreg=True).learning_rate == 1.5e-3  # fmt: skip
    assert "3 of 3 seeds on held-out people" in graddiff[-1]
    rmu = app.on_method_change("embedded", "", "rmu", False)[-1]
    assert "does not reliably reach parity" in rmu and "0 of 3 on forget10" in rmu
    smol = app.on_method_change("smollm2-135m", "", "graddiff", False)
    fields = dict(zip([n for n, _, _ in ADVANCED_FIELDS], smol[:-1], strict=True))
    assert fields["learning_rate"] == 5e-4  # its own rate on SmolLM2, not NPO's 1e-3
    assert "1 of 2 seeds on chemical elements" in smol[-1] and "Held out" in smol[-1]
    assert "did not reach parity" in app.on_method_change("smollm2-135m", "", "rmu", True)[-1]
    assert "not measured" in app.on_method_change("smollm2-135m", "", "gradascent", False)[-1]


def test_form_passes_the_stop_rule():
    values = advanced_defaults("embedded")
    assert config_from_form("embedded", "world:forget10", "npo", True, 1.0, values).stop_at == (
        "parity"
    )
    steps = config_from_form("embedded", "world:forget10", "npo", True, 1.0, values, "steps")
    assert steps == default_config("embedded", clreg_weight=1.0, stop_at="steps")
    with pytest.raises(ConfigError, match="stop_at"):
        config_from_form("embedded", "world:forget10", "npo", True, 1.0, values, "never")


def test_topics_follow_the_model():
    embedded, default = run_choices("embedded")
    assert default == "world:forget10" and ("world:forget10" in [v for _, v in embedded])
    smol, smol_default = run_choices("smollm2-135m")
    assert smol_default == "pack:chemical_elements" and smol[-1][1] == "custom"
    assert advanced_defaults("smollm2-135m")[0] == default_config("smollm2-135m").steps


def test_cli_command_reproduces_the_config():
    config = default_config(
        "embedded", method="graddiff", clreg=False, temperature=0.2, steps=7, seed=3
    )
    command = cli_command(config, "runs/x")
    args = build_parser().parse_args(shlex.split(command)[3:])
    assert config_from_args(args) == config
    assert "--no-clreg" in command and "--temperature 0.2" in command
    assert "--learning-rate" not in command  # a default stays out of the way


# --- figures and tables from a hand-made run ---
PARITY_LIVE = {  # step -> (parity AUC, forget accuracy, holdout accuracy, degenerate share)
    0: (1.0, 1.0, 0.06, 0.0),
    2: (0.8, 0.5, 0.06, 0.0),
    4: (0.55, 0.08, 0.06, 0.05),
}
FINAL = {
    "before": {
        "forget_accuracy": 1.0,
        "entanglement": 50.0,
        "forget_degenerate": 0.0,
        "forget_distinct_2": 1.0,
        "mia_auc": 1.0,
        "entanglement_by_layer": [60.0, 55.0, 52.0, 50.0],
    },
    "after": {
        "forget_accuracy": 0.2,
        "entanglement": 3.0,
        "forget_degenerate": 0.25,
        "forget_distinct_2": 0.8,
        "mia_auc": 0.55,
        "forget_quality": 0.3,
        "privleak": 5.0,
        "entanglement_by_layer": [58.0, 50.0, 40.0, 3.0],
    },
}
GOLD = {"forget_accuracy": 0.06, "forget_degenerate": 0.0, "forget_distinct_2": 0.97,
        "mia_auc": 0.5}  # fmt: skip


def parity_summary(stopped_because: str, trained: int = 4, **changes) -> dict:
    """A parity event's data, as engine.training.parity_outcome writes it."""
    check = {"step": trained, "distance": 0.5, "parity_auc": 0.55, "forget_accuracy": 0.08,
             "holdout_accuracy": 0.06, "parity_distance": 0.5}  # fmt: skip
    summary = {
        "rule": "steps" if stopped_because == "all steps done" else "parity",
        "trained_steps": trained,
        "measurable": True,
        "band": {"auc_tolerance": 0.15, "accuracy_tolerance": 0.05, "uses_auc": True},
        "reached": stopped_because == "parity reached",
        "reached_at": check if stopped_because == "parity reached" else None,
        "overshot_at": None,
        "closest": check,
        "kept_step": trained,
        "stopped_because": stopped_because,
    }
    return summary | changes


def fake_run(
    clreg: bool, steps: int = 4, parity: bool = False, gold: bool = False, **config
) -> RunState:
    """A run fed hand-made events: with `parity`, live parity measures (a task with a holdout)
    and a parity event; with `gold`, a report with the gold model's metrics and answers."""
    run = RunState(default_config("embedded", clreg=clreg, steps=steps, **config))
    rng = np.random.default_rng(0)
    run.apply(Event("started", 0, {}))
    for step in (0, 2, 4):
        points = {
            "forget": (rng.normal(size=(4, 2)) + step).tolist(),
            "retain": rng.normal(size=(6, 2)).tolist(),
            "forget_groups": ["person:A", "person:A", "person:B", "person:B"],
        }
        live = {"entanglement": 9.0 - step}
        if parity:
            auc, forget, holdout, loops = PARITY_LIVE[step]
            live |= {"parity_auc": auc, "forget_accuracy": forget, "holdout_accuracy": holdout,
                     "forget_degenerate": loops}  # fmt: skip
        run.apply(Event("evaluation", step, {"metrics": live, "points": points}))
        if step:
            for s in (step - 1, step):
                run.apply(
                    Event("step", s, {"terms": {"total": 1.0 / s, "npo": 0.5}, "seconds": 0.1})
                )
    report = {
        "metrics": {**copy.deepcopy(FINAL), "gold": dict(GOLD) if gold else {}},
        "generations": [
            {"set": "forget", "prompt": "Q?", "expected": "A", "before": "A", "after": "-"}
        ],
    }
    if gold:
        report["generations"][0]["gold"] = "B"
    if parity:
        report["parity"] = parity_summary("parity reached", steps)
        run.apply(Event("parity", steps, report["parity"]))
    run.apply(Event("finished", steps, {"reason": "", "report": report}))
    return run


def test_live_scatter_keeps_step0_axes_and_marks_groups():
    run = fake_run(clreg=True)
    figure = live_scatter([run])
    names = {trace.name for trace in figure.data}
    assert {"forget: A", "forget: B", "retain", "original positions"} <= names
    symbols = {t.marker.symbol for t in figure.data if t.name.startswith("forget")}
    assert len(symbols) == 2  # the groups are told apart by marker
    x_range = figure.layout.xaxis.range
    latest = np.array(run.evaluations[-1]["points"]["forget"])
    assert x_range[0] <= latest[:, 0].min() and x_range[1] >= latest[:, 0].max()
    assert "step 4/4" in figure.layout.annotations[0].text


def test_curves_and_tables_compare_ab_runs():
    runs = [fake_run(clreg=False), fake_run(clreg=True)]
    curves = live_curves(runs)
    names = {t.name for t in curves.data}
    assert {"NPO: entanglement (live items)", "NPO + CLReg: entanglement (live items)"} <= names
    assert "NPO + CLReg: total loss" in names  # plain words, not the report's code names
    assert "NPO + CLReg: npo" in names  # a term without plain words keeps its own name
    # the table's before/after entanglement beside the live curve, since the two differ
    table = next(t for t in curves.data if t.name.startswith("NPO: entanglement in the table"))
    assert list(table.y) == [50.0, 3.0] and list(table.x)[0] == 0
    headers, rows = metrics_table(runs)
    assert headers == [
        "metric", "before", "after NPO", "after NPO + CLReg", "good when", "what it means"
    ]  # fmt: skip
    assert rows[0][:4] == ["forget accuracy", "1", "0.2", "0.2"] and "lower" in rows[0][4]
    assert "share of forget questions" in rows[0][5]
    headers, rows = generations_table(runs)
    assert headers[-1] == "after NPO + CLReg" and rows == [["forget", "Q?", "A", "A", "-", "-"]]
    assert paper_view(runs) is None  # no end view until features were embedded


def test_parity_curves_show_the_band_and_both_runs_when_measured():
    runs = [fake_run(clreg=False, parity=True), fake_run(clreg=True, parity=True)]
    curves = live_curves(runs)
    names = {t.name for t in curves.data}
    for label in ("NPO", "NPO + CLReg"):
        parts = ("parity AUC", "forget accuracy", "holdout accuracy (chance)",
                 "forget answers that loop", "kept step 4")  # fmt: skip
        assert {f"{label}: {part}" for part in parts} <= names
    auc = next(t for t in curves.data if t.name == "NPO: parity AUC")
    assert list(auc.x) == [0, 2, 4] and list(auc.y) == [1.0, 0.8, 0.55]
    band = next(s for s in curves.layout.shapes if s.type == "rect")
    assert (band.y0, band.y1) == pytest.approx((0.35, 0.65))  # 0.5 ± parity_auc_tolerance
    titles = [a.text for a in curves.layout.annotations]
    assert [t.split("<br>")[0] for t in titles] == [
        "Entanglement", "Parity AUC", "Loss terms", "Answers known, salad"
    ]  # fmt: skip
    # Side by side in half a page (~250 px a panel), a longer line runs into its neighbour.
    assert max(len(line) for t in titles for line in t.split("<br>")) <= 20


def test_on_a_pack_the_parity_panel_shows_the_distance_it_is_judged_on():
    # A pack's parity reads no AUC (its never-learned answers are phrased unlike the forget
    # answers): SmolLM2's AUC stayed near 1.0 while the run stopped at parity (issue 32).
    run = fake_run(clreg=True, parity=True)
    for evaluation, distance in zip(run.evaluations, (19.0, 4.0, 0.6), strict=True):
        evaluation["metrics"] |= {"parity_uses_auc": 0.0, "parity_distance": distance}
    curves = live_curves([run])
    titles = [a.text for a in curves.layout.annotations]
    assert titles[1].startswith("Distance to parity") and "≤ 1 = at parity" in titles[1]
    names = {t.name for t in curves.data}
    assert "NPO + CLReg: distance to parity" in names and "NPO + CLReg: parity AUC" not in names
    # held against the questions it never knew, not strangers at chance
    assert "NPO + CLReg: never-learned level" in names
    assert not any("chance" in name for name in names)
    star = next(t for t in curves.data if t.name == "NPO + CLReg: kept step 4")
    assert list(star.y) == [0.6]  # the kept state, on the distance it was judged by
    band = next(s for s in curves.layout.shapes if s.type == "rect")
    assert (band.y0, band.y1) == (0, 1)
    assert tuple(curves.layout.yaxis2.range) == pytest.approx((0, 10.5))  # capped: 19 is off
    assert max(len(line) for t in titles for line in t.split("<br>")) <= 20
    # the world's runs keep the AUC panel
    assert (
        live_curves([fake_run(clreg=True, parity=True)])
        .layout.annotations[1]
        .text.startswith("Parity AUC")
    )


def test_curves_leave_out_parity_when_the_task_has_no_holdout():
    plain = live_curves([fake_run(clreg=True)])
    assert not any("parity" in t.name or "accuracy" in t.name for t in plain.data)
    assert not plain.layout.shapes and len(plain.layout.annotations) == 2
    # One run with the measures and one without: the panels show what there is.
    mixed = live_curves([fake_run(clreg=False), fake_run(clreg=True, parity=True)])
    names = {t.name for t in mixed.data}
    assert "NPO + CLReg: parity AUC" in names and "NPO: parity AUC" not in names
    # A report from before the live view counted looping answers: that line is left out.
    older = fake_run(clreg=True, parity=True)
    for evaluation in older.evaluations:
        del evaluation["metrics"]["forget_degenerate"]
    names = {t.name for t in live_curves([older]).data}
    assert "NPO + CLReg: forget accuracy" in names
    assert "NPO + CLReg: forget answers that loop" not in names


def test_layer_figure_marks_the_regularised_block():
    runs = [fake_run(clreg=False, parity=True), fake_run(clreg=True, parity=True)]
    figure = layer_entanglement(runs)
    bars = {t.name: list(t.y) for t in figure.data}
    assert bars == {
        "original model": [60.0, 55.0, 52.0, 50.0],
        "after NPO": [58.0, 50.0, 40.0, 3.0],
        "after NPO + CLReg": [58.0, 50.0, 40.0, 3.0],
    }
    (mark,) = figure.layout.shapes
    assert (mark.x0, mark.x1) == (2.5, 3.5)  # feature_layer -1: the last of 4 blocks
    ticks = list(figure.layout.xaxis.ticktext)
    assert ticks[3] == "block 3 (last)<br><b>CLReg layer</b>" and "CLReg" not in ticks[2]
    middle = layer_entanglement([fake_run(clreg=True, parity=True, feature_layer=1)])
    assert (middle.layout.shapes[0].x0, middle.layout.shapes[0].x1) == (0.5, 1.5)
    assert "CLReg layer" in middle.layout.xaxis.ticktext[1]
    alone = layer_entanglement([fake_run(clreg=False, parity=True)])  # no CLReg: the measured one
    assert "measured layer" in alone.layout.xaxis.ticktext[3]
    older = fake_run(clreg=True)
    del older.report["metrics"]["after"]["entanglement_by_layer"]
    assert layer_entanglement([older]) is None  # a report without per-layer values
    assert layer_entanglement([RunState(default_config("embedded"))]) is None  # not finished


def test_a_thirty_block_chart_labels_blocks_by_number_and_leaves_values_to_hover():
    run = fake_run(clreg=True, parity=True)
    for side in ("before", "after"):
        run.report["metrics"][side]["entanglement_by_layer"] = [float(b) for b in range(30)]
    figure = layer_entanglement([run])
    ticks = list(figure.layout.xaxis.ticktext)
    assert ticks[0] == "0" and ticks[29] == "29<br>last<br><b>CLReg</b>"
    assert max(len(t.split("<br>")[0]) for t in ticks) <= 2  # 30 labels side by side
    assert all(t.text is None for t in figure.data)  # no value over each of 60 bars
    assert "%{y:.3g}" in figure.data[0].hovertemplate
    small = layer_entanglement([fake_run(clreg=True, parity=True)])
    assert small.data[0].text is not None  # 4 blocks: each bar still says its value


def test_layer_figure_adds_gold_bars_and_a_membership_panel():
    runs = [fake_run(clreg=False, parity=True, gold=True), fake_run(clreg=True, parity=True)]
    runs[0].report["metrics"]["gold"]["entanglement_by_layer"] = [70.0, 60.0, 45.0, 36.0]
    plain = layer_entanglement(runs)  # no membership measured: one panel
    bars = {t.name: list(t.y) for t in plain.data}
    assert bars["gold (never saw the forget set)"] == [70.0, 60.0, 45.0, 36.0]
    assert len(plain.layout.annotations) == 1  # the one panel's title
    for run in runs:
        metrics = run.report["metrics"]
        metrics["before"]["membership_probe_by_layer"] = [0.5, 0.6, 0.8, 0.9]
        metrics["after"]["membership_probe_by_layer"] = [0.5, 0.55, 0.6, 0.62]
    runs[0].report["metrics"]["gold"]["membership_probe_by_layer"] = [0.5, 0.45, 0.5, 0.52]
    both = layer_entanglement(runs)
    by_panel = {(t.name, t.yaxis): list(t.y) for t in both.data}
    assert by_panel[("gold (never saw the forget set)", "y2")] == [0.5, 0.45, 0.5, 0.52]
    assert by_panel[("original model", "y2")] == [0.5, 0.6, 0.8, 0.9]
    assert by_panel[("after NPO + CLReg", "y")] == [58.0, 50.0, 40.0, 3.0]
    # One legend entry per series, though it has a bar in each panel.
    assert sum(bool(t.showlegend) for t in both.data) == 4
    assert any(shape.y0 == 0.5 and shape.yref == "y2" for shape in both.layout.shapes)


def test_the_relearning_chart_shows_the_attack_moving_the_points_step_by_step():
    from clreg_core.app.figures import relearning_curves

    run = fake_run(clreg=True, parity=True)
    frames = [{"forget": [[step, 0.0], [step, 1.0]], "retain": [[0.0, 0.0]]} for step in range(3)]
    run.report["relearning"] = {
        "same_lora": [0.0, 0.5, 0.9], "fresh_lora": [0.0, 0.4, 0.8],
        "reference": {"model": "gold", "curve": [0.0, 0.05, 0.1]},
        "verdict": {"reading": "hidden: …"},
        "motion": {"layer": 3, "forget_groups": ["p:a", "p:b"], "frames": frames},
    }  # fmt: skip
    figure = relearning_curves([run])
    (slider,) = figure.layout.sliders
    assert [step.label for step in slider.steps] == ["0", "1", "2"]
    assert slider.active == 2  # it opens at the attack's end
    step_one = slider.steps[1]
    assert step_one.method == "restyle" and list(step_one.args[0]["x"][0]) == [1.0, 1.0]
    moved = [figure.data[i].name for i in step_one.args[1]]
    assert moved == ["forget points (attacked)", "retain points (attacked)"]
    run.report["relearning"]["recall_steps"] = [0, 10, 20]  # recall after every 10th step
    figure = relearning_curves([run])
    assert [step.label for step in figure.layout.sliders[0].steps] == ["0", "10", "20"]
    assert list(figure.data[0].x) == [0, 10, 20]
    del run.report["relearning"]["motion"]  # a check without points: the curves alone
    assert not relearning_curves([run]).layout.sliders


def test_runs_are_never_drawn_in_the_forget_or_retain_colour():
    from clreg_core.app.figures import FORGET_COLOR, RETAIN_COLOR, relearning_curves

    runs = [fake_run(clreg=False, parity=True), fake_run(clreg=True, parity=True)]
    for run in runs:
        run.report["relearning"] = {
            "same_lora": [0.0, 0.9], "fresh_lora": [0.0, 0.8],
            "reference": {"model": "gold", "curve": [0.0, 0.1]}, "verdict": {"reading": "…"},
        }  # fmt: skip
    colours = [t.marker.color for t in layer_entanglement(runs).data if t.name.startswith("after")]
    colours += [t.line.color for t in relearning_curves(runs).data if t.name.startswith("after")]
    assert len(set(colours)) == 2  # one per run
    assert not {FORGET_COLOR, RETAIN_COLOR} & set(colours)


def test_metrics_table_adds_gold_fluency_and_parity_rows():
    runs = [fake_run(clreg=False, parity=True, gold=True), fake_run(clreg=True, parity=True,
                                                                    gold=True)]  # fmt: skip
    headers, rows = metrics_table(runs)
    assert headers == ["metric", "before", "after NPO", "after NPO + CLReg", GOLD_COLUMN,
                       "good when", "what it means"]  # fmt: skip
    by_name = {row[0]: row for row in rows}
    assert by_name["forget accuracy"][:5] == ["forget accuracy", "1", "0.2", "0.2", "0.06"]
    assert by_name["forget answers that loop"][1:5] == ["0", "0.25", "0.25", "0"]
    assert by_name["forget distinct-2"][4] == "0.97"
    assert "≥ 0.05" in by_name["Forget Quality"][5] and by_name["Forget Quality"][4] == "–"
    assert "near 0" in by_name["PrivLeak"][5]
    assert "near 0.5" in by_name["membership inference AUC"][5]
    assert all(row[5] and row[6] for row in rows)  # every row: which way is good, what it means
    parity = rows[-1]
    assert parity[0] == "parity (looks never trained)"
    assert parity[2:4] == ["parity reached at step 4"] * 2
    headers, rows = metrics_table([fake_run(clreg=True, parity=True)])
    assert GOLD_COLUMN not in headers and len(headers) == 5
    assert rows[-1][2] == "parity reached at step 4"


def test_without_a_gold_model_no_row_reads_against_one_and_a_pack_names_its_reference():
    # issue 32: a SmolLM2 pack run's table said "down to gold's" and "forget people" with no
    # gold column and no people in sight
    world = fake_run(clreg=True, parity=True)
    rows = {row[0]: row for row in metrics_table([world])[1]}
    assert rows["forget accuracy"][3] == "lower, down to chance"
    assert rows["parity (looks never trained)"][4].startswith("did the forget people")
    pack = fake_run(clreg=True, parity=True)
    for side in ("before", "after"):
        for key in ("mia_auc", "forget_quality", "privleak"):  # none on a pack
            pack.report["metrics"][side].pop(key, None)
    pack.parity = {**pack.parity, "band": {"uses_auc": False}}
    _, rows = metrics_table([pack])
    cells = " ".join(" ".join(row[3:]) for row in rows)
    assert "gold's" not in cells and "people" not in cells and "strangers" not in cells
    by_name = {row[0]: row for row in rows}
    assert by_name["forget accuracy"][3] == "lower, down to the never-learned level"
    assert by_name["forget answers that loop"][3] == "lower: near 0"
    assert rows[-1][0] == "parity (looks never learned)"
    with_gold = {row[0]: row for row in metrics_table([fake_run(True, parity=True, gold=True)])[1]}
    assert with_gold["forget accuracy"][4] == "lower, down to gold's / chance (guessing)"


def test_gold_that_could_not_be_measured_has_no_column_and_a_note():
    run = fake_run(clreg=True, parity=True)
    run.report["metrics"]["gold"] = {"unavailable": "could not load model 'x'"}
    headers, _ = metrics_table([run])
    assert GOLD_COLUMN not in headers
    assert "could not load model 'x'" in table_note([run])
    assert table_note([fake_run(clreg=True)]).startswith("**What this does not prove.**")
    assert table_note([RunState(default_config("embedded"))]) == ""


def test_a_topic_without_privacy_rows_says_why_under_the_table():
    run = fake_run(clreg=True)
    assert "No privacy rows" not in table_note([run])  # the world split has them
    for side in ("before", "after"):
        del run.report["metrics"][side]["mia_auc"]  # as on a topic pack (SmolLM2)
    names = [row[0] for row in metrics_table([run])[1]]
    assert "membership inference AUC" not in names
    assert "No privacy rows here (membership AUC, Forget Quality, PrivLeak)" in table_note([run])


def test_generations_table_has_a_gold_column_only_where_a_gold_model_answered():
    runs = [fake_run(clreg=False, gold=True), fake_run(clreg=True, gold=True)]
    headers, rows = generations_table(runs)
    assert headers == ["set", "prompt", "expected", "before", "after NPO", "after NPO + CLReg",
                       GOLD_ANSWER_COLUMN]  # fmt: skip
    assert rows == [["forget", "Q?", "A", "A", "-", "-", "B"]]
    headers, rows = generations_table([fake_run(clreg=True)])
    assert GOLD_ANSWER_COLUMN not in headers and rows == [["forget", "Q?", "A", "A", "-"]]


@pytest.mark.parametrize(
    ("summary", "said"),
    [
        (parity_summary("parity reached", 55), "parity reached at step 55"),
        (
            parity_summary(
                "went past parity",
                80,
                kept_step=75,
                overshot_at={"step": 80},
                reached_at={"step": 60},
            ),  # fmt: skip
            "went past parity at step 80: kept step 75",
        ),
        (  # never inside the band: "went past parity" alone would say it had been there
            parity_summary("went past parity", 80, kept_step=75, overshot_at={"step": 80}),
            "went past the parity band at step 80 without entering it: kept step 75",
        ),
        (
            parity_summary("all steps done", 150, overshot_at={"step": 80}),
            "all 150 steps done; went past parity at step 80 without entering the band",
        ),
        (
            parity_summary("step ceiling, parity not reached", 150, kept_step=125),
            "parity not reached in 150 steps: kept step 125",
        ),
        (
            parity_summary("already at parity before unlearning", 0, reached_at={"step": 0}),
            "already at parity before unlearning",
        ),
        (
            parity_summary(
                "all steps done", 150, reached_at={"step": 55}, overshot_at={"step": 80}
            ),  # fmt: skip
            "all 150 steps done; parity reached at step 55; went past parity at step 80",
        ),
        (
            parity_summary("all steps done", 150, reached_at=None),
            "all 150 steps done; parity not reached",
        ),
        (
            {
                "rule": "parity",
                "trained_steps": 30,
                "measurable": False,
                "kept_step": 30,
                "why": "this task has no never-trained (holdout) questions",
            },  # fmt: skip
            "parity not measured: this task has no never-trained (holdout) questions",
        ),
    ],
)
def test_progress_says_where_training_stopped(summary, said):
    run = RunState(default_config("embedded", steps=150))
    run.apply(Event("started", 0, {}))
    run.apply(Event("stage", 0, {"stage": "training"}))
    if summary["trained_steps"]:
        run.apply(Event("step", summary["trained_steps"], {"terms": {"total": 1}, "seconds": 0.1}))
    run.apply(Event("parity", summary["trained_steps"], summary))
    assert run.parity == summary
    run.apply(Event("stage", 0, {"stage": "measuring the unlearned model"}))
    assert said in run.progress_text()
    run.apply(Event("finished", summary["trained_steps"], {"reason": "", "report": {}}))
    assert run.progress_text().endswith(said)


def test_free_prompt_has_a_gold_answer_only_for_a_model_with_a_gold_twin():
    assert SMOLLM2.gold_source is None
    assert explore.ask_gold(SMOLLM2, "What is the symbol of gold?") is None  # no load
    assert explore.gold_label(EMBEDDED, "world:forget10") == GOLD_ANSWER_COLUMN
    assert explore.gold_label(EMBEDDED, "world:profession:baker") == (
        "gold model (never saw the forget10 split)"
    )


def test_page_redraws_a_plot_only_when_it_has_something_new():
    session = Session()
    session.attempt = attempt_for(default_config("embedded", steps=4))
    (run,) = session.attempt.runs
    assert {"scatter", "curves"}.isdisjoint(session.changes())  # the page has placeholders
    run.mark_loading()
    assert {"scatter", "curves"}.isdisjoint(session.changes())  # still nothing to plot
    points = {"forget": [[0.0, 1.0]], "retain": [[1.0, 0.0]], "forget_groups": ["person:A"]}
    run.apply(Event("evaluation", 0, {"metrics": {"entanglement": 1.0}, "points": points}))
    assert {"scatter", "curves"} <= set(session.changes())
    assert {"scatter", "curves"}.isdisjoint(session.changes())
    run.apply(Event("step", 1, {"terms": {"total": 0.5}, "seconds": 0.1}))
    assert "curves" not in session.changes()  # a new loss alone waits for CURVES_EVERY_S
    session.page.curves_drawn_at -= CURVES_EVERY_S
    assert "curves" in session.changes()
    run.apply(Event("step", 2, {"terms": {"total": 0.4}, "seconds": 0.1}))
    run.apply(Event("evaluation", 2, {"metrics": {"entanglement": 0.9}, "points": points}))
    assert {"scatter", "curves"} <= set(session.changes())  # an evaluation redraws both at once


def test_old_downloads_are_pruned_and_recent_ones_kept(tmp_path):
    old, recent = tmp_path / "old", tmp_path / "recent"
    for folder in (old, recent):
        folder.mkdir()
        (folder / "plots.html").write_text("x")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert prune_exports(tmp_path, max_age_s=3600) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recent"]
    assert prune_exports(tmp_path / "missing", max_age_s=3600) == 0


def test_time_left_counts_down_from_the_measured_pace(tmp_path, monkeypatch):
    monkeypatch.setenv("CLREG_CACHE", str(tmp_path))  # no phase measured yet
    run = RunState(default_config("embedded", steps=10, eval_every=2))
    run.apply(Event("started", 0, {"device": "cpu"}))
    run.apply(Event("stage", 0, {"stage": "training"}))
    run.apply(Event("step", 1, {"terms": {"total": 1.0}, "seconds": 0.5}))
    assert run.seconds_left() is None  # no whole cycle of steps and an evaluation yet
    run.stage_started_at -= 1.0  # one second for 2 steps
    run.apply(Event("step", 2, {"terms": {"total": 1.0}, "seconds": 0.5}))
    left = run.seconds_left()
    assert 3.9 < left < 4.1  # 8 steps at 0.5 s; the measuring after them never measured here
    assert "step 2/10" in run.progress_text() and "s of training left" in run.progress_text()
    # During a live evaluation the pace per step grows: the countdown does not climb.
    run.stage_started_at -= 3.0
    assert run.seconds_left() <= left
    run.apply(Event("stage", 10, {"stage": "measuring the unlearned model"}))
    assert run.seconds_left() is None and "s left" not in run.progress_text()


def test_a_phase_measured_before_gives_its_estimate_and_an_overrun_is_said(tmp_path, monkeypatch):
    monkeypatch.setenv("CLREG_CACHE", str(tmp_path))
    key = phase_costs.cost_key("embedded", "cpu", default_config("embedded").final_eval_items)
    for seconds in (30.0, 40.0, 100.0):  # the median of the kept measurements
        phase_costs.record(key, phase_costs.MEASURE_AFTER, seconds)
    assert phase_costs.expected(key, phase_costs.MEASURE_AFTER) == 40.0
    run = RunState(default_config("embedded"))
    run.apply(Event("started", 0, {"device": "cpu"}))
    run.apply(Event("stage", 70, {"stage": "measuring the unlearned model"}))
    assert 39.0 < run.seconds_left() <= 40.0
    assert "about 40 s left" in run.progress_text()
    run.stage_started_at -= 45.0  # it runs past its estimate
    assert run.progress_text().endswith("taking longer than estimated")
    # the end view: no number until it was made here once, then its measured time
    run.mark_done("finished", "")
    assert run.end_view_text() == "preparing the end view and the downloads…"
    phase_costs.record(key, phase_costs.END_VIEW, 48.0)
    fresh = RunState(default_config("embedded"))
    fresh.apply(Event("started", 0, {"device": "cpu"}))
    fresh.mark_done("finished", "")
    assert fresh.end_view_text().endswith("about 48 s left")


def test_the_original_models_measurement_has_an_estimate_once_measured_and_none_when_read(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("CLREG_CACHE", str(tmp_path))
    run = RunState(default_config("embedded"))
    run.apply(Event("started", 0, {"device": "cpu"}))
    run.apply(Event("stage", 0, {"stage": "measuring the original model", "kept": False}))
    assert run.seconds_left() is None and "s left" not in run.progress_text()  # never measured
    key = phase_costs.cost_key("embedded", "cpu", default_config("embedded").final_eval_items)
    phase_costs.record(key, phase_costs.MEASURE_BEFORE, 20.0)
    measured = RunState(default_config("embedded"))
    measured.apply(Event("started", 0, {"device": "cpu"}))
    measured.apply(Event("stage", 0, {"stage": "measuring the original model", "kept": False}))
    assert "about 20 s of this measurement left" in measured.progress_text()
    # read back from the cache, it takes a moment: no countdown, and the stage says so
    read = RunState(default_config("embedded"))
    read.apply(Event("started", 0, {"device": "cpu"}))
    read.apply(Event("stage", 0, {"stage": "measuring the original model", "kept": True}))
    assert read.stage == KEPT_BEFORE_STAGE and read.seconds_left() is None


# --- the controller on the real embedded model ---
@pytest.mark.slow
def test_session_single_run_fills_everything_and_answers_with_both_models():
    session = Session(Hosting(local_queue=RunQueue()))
    start(session, default_config("embedded", **SMALL))
    with pytest.raises(UserInputError, match="already going"):
        session.start(default_config("embedded", **SMALL))
    wait_until(lambda: session.attempt.over)
    parts = session.changes()
    run = session.runs()[0]
    assert run.status == "finished", run.reason
    assert [e["step"] for e in run.evaluations] == [0, 2, 4, 6] and len(run.losses) == 6
    assert parts["metrics"][1] and parts["generations"][1] and parts["paper"] is not None
    names = sorted(p.rsplit("/", 1)[-1] for p in parts["exports"])
    assert names == ["npo-clreg-adapter.zip", "npo-clreg-report.json", "plots.html"]
    archive = next(p for p in parts["exports"] if p.endswith(".zip"))
    assert "adapter/adapter_model.safetensors" in zipfile.ZipFile(archive).namelist()
    report_path = next(p for p in parts["exports"] if p.endswith(".json"))
    report = json.loads(Path(report_path).read_text())
    assert report["config"]["steps"] == 6
    assert "--steps 6" in parts["commands"]
    assert session.changes() == {}  # nothing new to draw
    assert parts["layers"] is not None and parts["metrics"][0][-3] == GOLD_COLUMN
    assert parts["generations"][0][-1] == GOLD_ANSWER_COLUMN
    assert run.parity is not None and run.parity["trained_steps"] == run.step
    rows = session.ask("embedded", "Where was Riaisuv Fivane born?")
    assert [r[0] for r in rows] == ["original", "after NPO + CLReg", GOLD_ANSWER_COLUMN]
    assert "Lanterne" in rows[0][1]  # the original model knows its world
    assert rows[2][1].strip()  # the gold model answers too (a guess, where it never saw them)
    with pytest.raises(UserInputError, match="question"):
        session.ask("embedded", "  ")
    # Another topic (or model) than the run's: its unlearned model does not answer for it.
    rows = session.ask("embedded", "Where was Riaisuv Fivane born?", "world:forget05")
    assert [r[0] for r in rows][:2] == ["original", "unlearned"]
    assert "no run of this model and topic" in rows[1][1]


@pytest.mark.slow
def test_the_check_after_a_run_attacks_its_kept_weights_and_can_be_stopped():
    """Gone or only hidden, asked after the run: the finished run's LoRA weights are attacked
    (its own LoRA, a fresh one on the merged weights, the gold model beside), its report and
    downloads gain the block, and a Stop during the check leaves the run as it was."""
    session = Session(Hosting(local_queue=RunQueue()))
    with pytest.raises(UserInputError, match="nothing to check"):
        session.start_check()
    start(session, default_config("embedded", **SMALL))
    wait_until(lambda: session.attempt.over)
    (run,) = session.runs()
    assert run.status == "finished" and "relearning" not in run.report
    # Stopped while it attacks: the run keeps its report, says why it was not checked.
    session.start_check()
    following = session.follow()
    thread = threading.Thread(target=lambda: [None for _ in following], daemon=True)
    thread.start()
    wait_until(lambda: run.check == "checking")
    assert "gone or only hidden? an attacker fine-tunes it" in session.progress()[1]
    session.stop()
    thread.join(120)
    wait_until(lambda: session.attempt.over)
    assert run.check == "stopped by the user" and "relearning" not in run.report
    assert run.status == "finished" and session.runs() == [run]
    # Checked to the end.
    session.start_check()
    [None for _ in session.follow()]
    block = run.report["relearning"]
    assert run.check == "checked" and len(block["same_lora"]) == len(block["recall_steps"])
    assert block["reference"]["model"].startswith("gold")  # forget10 has a gold twin
    assert "checked: " + block["verdict"]["reading"] in session.progress()[1]
    assert session.changes()["relearning"] is not None  # the chart is drawn
    report_path = next(str(p) for p in session.attempt.exports if str(p).endswith(".json"))
    assert json.loads(Path(report_path).read_text())["relearning"]["verdict"] == block["verdict"]
    assert session.ask("embedded", "Where was Riaisuv Fivane born?")[1][1]  # still answers
    with pytest.raises(UserInputError, match="already checked"):
        session.start_check()
    # A new run afterwards: the checked run goes to this tab's history once.
    start(session, default_config("embedded", **SMALL, seed=1))
    wait_until(lambda: session.attempt.over)
    assert [r.config.seed for r in session.run_history()] == [0, 1]


@pytest.mark.slow
def test_session_ab_stop_and_queue():
    hosting = Hosting(local_queue=RunQueue(slots=1))
    first, second = Session(hosting), Session(hosting)
    start(first, default_config("embedded", **(SMALL | {"steps": 400})), ab=True)
    wait_until(lambda: first.attempt.ticket is not None)  # in line first
    start(second, default_config("embedded", **SMALL))
    wait_until(lambda: first.runs()[0].step >= 3)
    assert "number 1 in line" in second.progress()[1]
    assert first.stop() == "stopped"
    runs = first.runs()
    assert [r.status for r in runs] == ["cancelled", "cancelled"]
    assert "stopped by the user at step" in runs[0].reason
    assert not first.busy  # the page may start again at once
    wait_until(lambda: second.attempt.over)  # the queue moved on
    assert second.runs()[0].status == "finished"
    wait_until(lambda: first.attempt.over)
    assert first.runs()[0].step < 400
    # The stopped run's report (its curves and points so far) is still there to download.
    names = sorted(p.name for p in first.attempt.exports)
    assert names == ["npo-stopped-report.json", "plots.html"]
    report = json.loads(first.attempt.exports[0].read_text())
    assert report["status"] == "cancelled" and len(report["history"]["evaluations"]) >= 1
    assert "# NPO\n" in first.attempt.commands and "NPO + CLReg" not in first.attempt.commands
    start(first, default_config("embedded", **SMALL), ab=True)
    wait_until(lambda: first.attempt.over)
    base, with_clreg = first.runs()
    assert (base.status, with_clreg.status) == ("finished", "finished")
    assert not base.config.clreg and with_clreg.config.clreg
    assert base.evaluations[0]["points"] == with_clreg.evaluations[0]["points"]  # same data, seed
    headers, _ = first.changes()["metrics"]
    assert headers[2:4] == ["after NPO", "after NPO + CLReg"]


@pytest.mark.slow
def test_ab_halfway_says_both_halves_and_the_first_model_answers():
    session = Session(Hosting(local_queue=RunQueue()))
    # the first run short, so the check happens while the second one trains
    start(session, default_config("embedded", **(SMALL | {"steps": 300, "stop_at": "steps"})),
          ab=True)  # fmt: skip
    first, second = session.runs()
    wait_until(lambda: first.step >= 1)
    text = session.progress()[1]
    assert "run 1 of 2 · NPO: training" in text
    assert "run 2 of 2 · NPO + CLReg: next, starts when NPO ends" in text
    rows = dict(session.ask("embedded", "Where was Riaisuv Fivane born?"))
    assert set(rows) >= {"original", "after NPO", "after NPO + CLReg"}
    assert "still training" in rows["after NPO"] and "runs next" in rows["after NPO + CLReg"]
    session.stop()
    wait_until(lambda: session.attempt.over)
    # halfway: the first finished, the second trains
    start(session, default_config("embedded", **(SMALL | {"stop_at": "steps"})), ab=True)
    first, second = session.runs()
    wait_until(lambda: first.status == "finished" and second.status in ("loading", "running"))
    text = session.progress()[1]
    assert "run 1 of 2 · NPO: finished · step 6/6" in text
    assert "run 2 of 2 · NPO + CLReg:" in text and "half done: keep this tab open" in text
    rows = dict(session.ask("embedded", "Where was Riaisuv Fivane born?"))
    assert rows["after NPO"] and not rows["after NPO"].startswith("(")  # the model answered
    assert rows["after NPO + CLReg"].startswith("(still") or second.done
    wait_until(lambda: session.attempt.over)
    assert "half done" not in session.progress()[1]


@pytest.mark.slow
def test_session_rejects_bad_input_before_queueing():
    session = Session(Hosting(local_queue=RunQueue()))
    with pytest.raises(UserInputError, match="empty"):
        session.start(default_config("embedded", task="custom"), custom_text="  \n")
    with pytest.raises(UserInputError, match="unknown model"):
        session.start(default_config("no such model!"))
    # a layer the model does not have: refused from its config, before queueing or loading
    config = default_config("embedded", feature_layer=9, **SMALL)  # the model has 4 blocks
    with pytest.raises(UserInputError, match="feature_layer=9 is outside this model's 4"):
        session.start(config)
    assert session.attempt is None


def test_a_run_past_the_hosts_time_cap_is_stopped_and_frees_the_slot(monkeypatch):
    """A real embedded run whose settings passed admission but outlives the cap (2x budget)."""
    from clreg_core.app.attempts import run_attempt

    monkeypatch.setenv("CLREG_MAX_RUN_S", "1")  # after admission: a cap of 2 s
    attempt = attempt_for(default_config("embedded", steps=2000, stop_at="steps"))
    (run,) = attempt.runs
    queue = attempt.queue
    list(run_attempt(attempt))
    assert run.status == "cancelled" and "time cap (0 min: twice CLREG_MAX_RUN_S)" in run.reason
    assert attempt.over and queue.wait_turn(queue.join(), lambda: False)  # the slot is free


def test_the_plot_guide_says_where_npos_term_starts_for_each_models_default():
    """At step 1 the model is still its own reference: NPO's term is what the guide says."""
    import torch

    import app
    from clreg_core.engine.losses import npo_loss

    for model in ("embedded", "smollm2-135m"):
        beta = default_config(model).npo_beta
        logp = torch.tensor([-3.0, -7.0])
        assert f"≈ {npo_loss(logp, logp, beta).item():.1f} at β = {beta:g}" in app.npo_start(model)


def test_a_tick_from_a_page_whose_run_is_gone_says_so_and_stops_ticking():
    """After a server restart an open tab still ticks; its session is new and holds no run."""
    import app

    out = app.on_tick(gr.Request(session_hash=f"restarted-{time.time_ns()}"))
    assert "lost its run: the server restarted" in out[0] and "press Run" in out[0]
    assert out[13].active is False  # the timer
    assert all(button.interactive for button in out[app.BUTTONS])  # Run, A/B, Check on again


def test_a_killed_server_leaves_partial_reports_marked_interrupted_at_start(tmp_path):
    from clreg_core.app.run_export import mark_interrupted, write_progress

    folder = tmp_path / "attempt"
    folder.mkdir()
    run = RunState(default_config("embedded", steps=4))
    points = {"forget": [[0.0, 1.0]], "retain": [[1.0, 0.0]], "forget_groups": ["person:A"]}
    run.apply(Event("evaluation", 0, {"metrics": {"entanglement": 1.0}, "points": points}))
    run.apply(Event("step", 1, {"terms": {"total": 0.5}, "seconds": 0.1}))
    partial = write_progress(folder, run)
    assert json.loads(partial.read_text())["status"] == "running"
    (marked,) = mark_interrupted(tmp_path)  # what the next start does
    report = json.loads(marked.read_text())
    assert marked.name == "npo-clreg-interrupted-report.json" and not partial.exists()
    assert report["status"] == "interrupted" and "server stopped" in report["reason"]
    assert report["history"]["evaluations"][0]["points"] == points
    assert report["history"]["steps"][0]["total"] == 0.5
    assert mark_interrupted(tmp_path) == []  # once


def test_a_run_writes_its_partial_report_while_it_runs_and_replaces_it_at_the_end():
    """A real embedded attempt: the partial report exists mid-run, the final one replaces it."""
    from clreg_core.app.attempts import run_attempt

    attempt = attempt_for(default_config("embedded", steps=4, eval_every=2, final_eval_items=16))
    (run,) = attempt.runs
    seen = []
    worker = threading.Thread(target=lambda: list(run_attempt(attempt)))
    worker.start()
    while worker.is_alive():
        if attempt.folder is not None:
            seen += [p.name for p in attempt.folder.glob("*-in-progress.json")]
        time.sleep(0.05)
    assert "npo-clreg-in-progress.json" in seen and run.status == "finished"
    names = {p.name for p in attempt.folder.iterdir()}
    assert "npo-clreg-report.json" in names and not any("in-progress" in n for n in names)


def _with_points(run: RunState, points: dict) -> RunState:
    run.paper_points = points
    return run


def _panels(figure) -> list[tuple[str]]:
    return [(a.text,) for a in figure.layout.annotations]


def test_a_stop_during_the_end_view_ends_it_within_a_batch():
    """The end view embeds features after training; a Stop there ends it at the next batch
    instead of letting it run to completion (the attempt then writes its downloads)."""
    from clreg_core.app.paper_view import paper_points
    from clreg_core.engine.evaluation import RunStopped
    from clreg_core.engine.tasks import task_for_model
    from clreg_core.models.loading import load_model

    loaded = load_model("embedded")
    task = task_for_model("world:forget10", EMBEDDED)
    run = RunState(default_config("embedded"))
    gold = load_model(EMBEDDED.gold_for(task.name))
    frozen, points = paper_points(loaded.model, loaded, task, run.config, None, gold=gold)
    assert len(points["after"]["forget"]) == len(frozen["original"]["forget"]) > 0
    # The gold model's own picture of the same items; an A/B pair's second run reuses both.
    assert len(points["gold"]["forget"]) == len(points["after"]["forget"])
    assert points["gold"] != points["original"]
    again, second = paper_points(loaded.model, loaded, task, run.config, frozen)
    assert again is frozen and second["gold"] == points["gold"]
    assert [p[0] for p in _panels(paper_view([_with_points(run, points)]))] == [
        "original model",
        "after NPO + CLReg",
        "gold (never saw the forget set)",
    ]
    with pytest.raises(RunStopped):
        paper_points(loaded.model, loaded, task, run.config, None, should_stop=lambda: True)


def test_a_stop_while_the_model_loads_frees_the_slot_at_once(monkeypatch):
    """Loading can take minutes (a hub download, a GGUF's dequantisation) and cannot be cut
    short from outside; a Stop must free the slot without waiting for it. Slow loading is
    injected here: no model in the offline registry takes long enough to stop it reliably."""
    from clreg_core.app.attempts import run_attempt
    from clreg_core.models import loading

    released = threading.Event()
    monkeypatch.setattr(loading, "load_model", lambda *a, **k: released.wait(600))
    attempt = attempt_for(default_config("embedded", steps=5))
    (run,) = attempt.runs
    queue = attempt.queue
    worker = threading.Thread(target=lambda: list(run_attempt(attempt)))
    worker.start()
    wait_until(lambda: run.stage == "loading the model")
    attempt.stop.set()
    worker.join(60)  # a bound for a busy machine; the load would take 600 s
    assert not worker.is_alive() and attempt.over  # well before the load would have ended
    assert run.status == "cancelled" and run.reason == "stopped by the user while loading the model"
    assert queue.wait_turn(queue.join(), lambda: False)  # the slot is free
    released.set()
