"""benchmarks/depth.py's reading: the verdict rule, the table and the rows (no model runs)."""

import json

from benchmarks.depth import (
    SAME,
    clreg_rows,
    clreg_verdict,
    differs,
    grid,
    load_rows,
    membership_verdict,
    overrides_for,
    pending,
    reference_rows,
    reference_verdict,
    row_from_report,
    table_rows,
)

JOB = {"method": "npo", "clreg": False, "task": "world:forget10", "seed": 0}


def report(forget=0.05, own=(0.0, 0.5), fresh=(0.0, 0.4), ref=(0.0, 0.1), member=0.6):
    """A hand-made run report with what depth.py reads of one."""
    return {
        "metrics": {
            "before": {"forget_accuracy": 1.0, "retain_accuracy": 1.0, "membership_probe": 0.9},
            "after": {
                "forget_accuracy": forget,
                "retain_accuracy": 0.98,
                "membership_probe": member,
            },
            "gold": {"forget_accuracy": 0.06, "membership_probe": 0.52},
        },
        "parity": {"reached": True, "stopped_because": "parity reached", "kept_step": 60},
        "relearning": {
            "steps": 20,
            "same_lora": [own[0], 0.2, own[1]],
            "fresh_lora": [fresh[0], fresh[1]],
            "reference": {"model": "gold", "curve": [ref[0], ref[1]]},
            "verdict": {"recovered": max(own[1], fresh[1]), "reference": ref[1]},
        },
        "timing": {"total_seconds": 100.0},
    }


def row(seed=0, clreg=False, **kw):
    job = {**JOB, "seed": seed, "clreg": clreg}
    return row_from_report(job, {}, "finished", "", report(**kw))


def test_differs_needs_sets_apart_beyond_the_margin():
    assert differs([0.5, 0.6, 0.7], [0.1, 0.2, 0.3]) == "higher"
    assert differs([0.1, 0.2, 0.3], [0.5, 0.6, 0.7]) == "lower"
    assert differs([0.1, 0.5, 0.3], [0.4, 0.6, 0.7]) is None  # overlap
    assert differs([0.5, 0.6], [0.3, 0.4], margin=0.15) is None  # apart by only 0.1
    assert differs([0.6, 0.7], [0.3, 0.4], margin=0.15) == "higher"
    assert differs([0.9], [0.1, 0.2]) is None  # one seed tells no spread
    assert differs([0.9, None, 0.8], [0.1, 0.2]) == "higher"  # missing values left out


def test_row_keeps_the_curves_ends_and_missing_keys_as_none():
    r = row()
    assert r["relearning"]["same_lora"] == {"start": 0.0, "end": 0.5}
    assert r["relearning"]["reference"]["end"] == 0.1
    assert r["after"]["membership_probe"] == 0.6 and r["after"]["mia_auc"] is None
    assert r["gold"]["membership_probe"] == 0.52
    bare = row_from_report(JOB, {}, "failed", "boom", {})
    assert bare["gold"] == {} and bare["relearning"]["same_lora"]["end"] is None


def test_table_rows_and_verdicts_from_hand_made_rows():
    rows = [row(seed=s, own=(0.0, 0.8 + s / 100), member=0.9) for s in range(3)]
    rows += [row(seed=s, clreg=True, own=(0.0, 0.1 + s / 100), member=0.5) for s in range(3)]
    npo, npo_clreg = table_rows(rows, "world:forget10", methods=("npo",))
    assert npo[:3] == ["NPO", "3/3", "60, 60, 60"]
    assert npo[5] == "0.81 ± 0.01" and npo_clreg[5] == "0.11 ± 0.01"
    assert npo[7] == "0.10 ± 0.00" and npo[8] == "0.90 ± 0.00"
    assert npo_clreg[10] == "0.52 ± 0.00"
    # forget acc, retain acc, own LoRA, fresh LoRA, membership after
    assert clreg_verdict(rows[:3], rows[3:]) == [
        SAME,
        SAME,
        "lower with CLReg",
        SAME,
        "lower with CLReg",
    ]
    assert clreg_verdict(rows[:3], rows[3:4])[2] == "n/a"  # one seed tells no spread
    assert reference_verdict(rows[:3], "own", 0.15).startswith("hidden")
    assert reference_verdict(rows[3:], "own", 0.15) == SAME  # 0.10-0.12 vs 0.10
    assert membership_verdict(rows[:3]) == "higher than gold"  # 0.9 vs gold's 0.52
    npo_ref, clreg_ref = reference_rows(rows, "world:forget10", 0.15, methods=("npo",))
    assert npo_ref[0] == "NPO" and npo_ref[1].startswith("hidden") and clreg_ref[1] == SAME
    assert clreg_rows(rows, "world:forget10", methods=("npo",))[0][0] == "NPO"


def test_membership_is_read_against_before_where_there_is_no_gold():
    rows = [row(seed=s, member=0.5 + s / 100) for s in range(3)]
    for r in rows:
        r["gold"] = {}
    assert membership_verdict(rows) == "lower than before"  # 0.50-0.52 vs before's 0.9


def test_resuming_skips_finished_runs_and_retries_failed_ones(tmp_path):
    path = tmp_path / "depth.jsonl"
    failed = {**JOB, "seed": 1, "status": "error", "reason": "x"}
    lines = [row(seed=0), failed]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rows = load_rows(path)
    todo = pending(grid(), rows)
    assert len(grid()) == 48 and len(todo) == 47
    assert {"method": "npo", "clreg": False, "task": "world:forget10", "seed": 1} in todo
    # a later line for the same run replaces the earlier one
    path.write_text(path.read_text() + json.dumps(row(seed=1)) + "\n")
    assert len(pending(grid(), load_rows(path))) == 46


def test_only_the_untuned_methods_get_a_rate():
    rates = {"graddiff": 1e-3, "simnpo": 3e-3, "rmu": 3e-3}
    assert overrides_for("npo", rates) == {}
    assert overrides_for("rmu", rates) == {"learning_rate": 3e-3}
