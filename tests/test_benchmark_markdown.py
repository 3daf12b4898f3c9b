"""BENCHMARKS.md sections: each benchmark replaces its own and leaves the others alone."""

import json

import pytest

from benchmarks.markdown import mean_spread, table, write_section


def test_sections_are_replaced_in_place(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section("speed", "first speed", path)
    write_section("claims", "claims body", path)
    write_section("speed", "second speed", path)
    text = path.read_text()
    assert "first speed" not in text and "second speed" in text and "claims body" in text
    assert text.index("second speed") < text.index("claims body")  # order kept


def test_table_and_spread():
    assert table(["a", "b"], [[1, 2]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |"]
    assert mean_spread([1.0, 3.0], 1) == "2.0 ± 1.4"
    assert mean_spread([0.5]) == "0.500"
    assert mean_spread([]) == "n/a"


def test_claims_merge_replaces_only_the_redone_methods(tmp_path):
    from benchmarks.claims import merged

    path = tmp_path / "claims.json"
    old = {
        "date": "d1",
        "machine": "x86_64, 2 threads",
        "command": "python benchmarks/claims.py",
        "seconds": 100.0,
        "learning_rates": {"npo": 0.01, "graddiff": 0.003},
        "rows": [{"method": "npo", "v": 1}, {"method": "graddiff", "v": 2}],
    }
    path.write_text(json.dumps(old))
    new = {
        "date": "d2",
        "machine": "x86_64, 2 threads",
        "command": "python benchmarks/claims.py --methods graddiff --merge",
        "seconds": 20.0,
        "learning_rates": {"graddiff": 0.0005},
        "rows": [{"method": "graddiff", "v": 3}],
    }
    out = merged(path, new, ["graddiff"], "rows")
    assert out["rows"] == [{"method": "npo", "v": 1}, {"method": "graddiff", "v": 3}]
    assert out["seconds"] == 120.0 and out["command"].endswith("--methods graddiff --merge")
    assert out["merged"] == ["graddiff redone on d2 (x86_64)"] and out["date"] == "d1"
    assert out["learning_rates"] == {"npo": 0.01, "graddiff": 0.0005}


def test_claims_merge_can_redo_one_split_of_every_method(tmp_path):
    from benchmarks.claims import merged

    path = tmp_path / "claims.json"
    rows = [{"method": m, "split": s, "v": 1} for m in ("npo", "rmu") for s in ("f01", "f10")]
    old = {"date": "d1", "machine": "m", "learning_rates": {"npo": 0.01, "rmu": 0.003}}
    path.write_text(json.dumps({**old, "rows": rows}))
    new = {"date": "d2", "machine": "m", "learning_rates": {"npo": 0.01, "rmu": 0.003}}
    redo = [{"method": m, "split": "f10", "v": 2} for m in ("npo", "rmu")]
    out = merged(path, {**new, "rows": redo}, ["npo", "rmu"], "rows", ["f10"])
    assert sorted((r["method"], r["split"], r["v"]) for r in out["rows"]) == [
        ("npo", "f01", 1),
        ("npo", "f10", 2),
        ("rmu", "f01", 1),
        ("rmu", "f10", 2),
    ]
    assert out["merged"] == ["npo, rmu on f10 redone on d2 (m)"]


def test_a_claim_counts_only_beyond_the_seed_spread_or_in_every_seed():
    from benchmarks.claims_report import compare

    # the review's case: NPO forget01, 0.059 -> 0.045 with an sd of 0.10, one seed going the
    # other way: not a difference
    off, on = {0: 0.0, 1: 0.0, 2: 0.177}, {0: 0.03, 1: 0.0, 2: 0.105}
    assert compare(off, on, better=-1) == "unclear"
    # the same way in every seed counts, however small
    assert compare({0: 0.30, 1: 0.31, 2: 0.29}, {0: 0.29, 1: 0.30, 2: 0.28}, -1) == "better"
    # a gap beyond both spreads counts even with one seed tied
    assert compare({0: 0.95, 1: 0.9, 2: 0.95}, {0: 0.1, 1: 0.9, 2: 0.1}, +1) == "worse"
    # ... and does not within it
    assert compare({0: 0.9, 1: 0.9, 2: 0.5}, {0: 0.1, 1: 0.9, 2: 0.1}, +1) == "unclear"
    # distance from 0.5: an AUC falling from 0.62 to 0.30 is worse, not better
    away = compare({0: 0.62, 1: 0.60}, {0: 0.30, 1: 0.32}, -1, lambda v: abs(v - 0.5))
    assert away == "worse"
    assert compare({0: 1.0}, {}, -1) == "unmeasured"


def _row(split, variant, seed, **after):
    return {
        "split": split,
        "method": "npo",
        "clreg": variant != "base",
        "variant": variant,
        "seed": seed,
        "status": "finished",
        "before": {
            "forget_accuracy": 1.0,
            "retain_accuracy": 1.0,
            "entanglement": 50.0,
            "mia_auc": 1.0,
        },
        "after": {"forget_accuracy": 0.1, "retain_accuracy": 0.9, "mia_auc": 0.5, **after},
        "parity": {"reached_at": {"step": 40} if variant != "base" else None, "kept_step": 90},
    }


def test_verdicts_name_every_metric_skip_the_tuning_split_and_mark_untuned_methods():
    from benchmarks.claims_report import markdown

    rows = [
        _row(split, variant, seed, entanglement=es, relearn_heldout_after=relearn)
        for split in ("forget05", "forget10")
        for seed in (0, 1, 2)
        for variant, es, relearn in (
            ("base", 60.0 + seed, 0.4),
            ("clreg", 15.0 + seed, 0.9),
            ("anchor_only", 55.0 + seed, 0.5),
        )
    ]
    out = {
        "date": "d",
        "machine": "m",
        "seconds": 60.0,
        "rows": rows,
        "learning_rates": {"npo": 0.01},
        "grid_settings": {"final_eval_items": 120},
        "stop_at": "parity",
        "tuning_split": "forget05",
        "condition_unmet": ["npo"],
    }
    text = markdown(out, "claims-parity-test")
    verdicts = [line for line in text.splitlines() if line.startswith("- **")]
    clreg = next(line for line in verdicts if line.startswith("- **NPO + CLReg**"))
    # the held-out split only, every claim named, the one against CLReg included
    assert "entanglement better on 1/1" in clreg
    assert "accuracy after the relearning attack worse on 1/1" in clreg
    assert "retain accuracy unclear on 1/1" in clreg
    assert "reached parity in 0/3 runs (NPO) and 3/3 (NPO + CLReg)" in clreg
    assert any(line.startswith("- **NPO + anchor only (λ = 0)**") for line in verdicts)
    assert "tuning split, not counted" in text and "NPO †" in text
    assert "40, 40, 40" in text and "not reached (kept 90)" in text


def test_end_view_shares_count_neighbours_with_the_same_label():
    import numpy as np

    from benchmarks.end_view import chance_same_person, same_label_share

    # two tight pairs far apart: each point's nearest neighbour shares its label
    points = np.array([[0.0, 0.0], [0.0, 0.1], [5.0, 5.0], [5.0, 5.1]])
    assert same_label_share(points, ["a", "a", "b", "b"], k=1) == 1.0
    assert same_label_share(points, ["a", "b", "a", "b"], k=1) == 0.0
    # with k=3 every point's neighbours are the other three: one of them shares its label
    assert same_label_share(points, ["a", "a", "b", "b"], k=3) == pytest.approx(1 / 3)
    assert chance_same_person(["a", "a", "b", "b"]) == pytest.approx(1 / 3)


def test_parity_tuning_prefers_rates_that_reach_parity_in_every_seed_then_the_closest():
    from benchmarks.claims import parity_score

    def run(reached: bool, distance: float) -> dict:
        check = {"step": 60, "distance": distance}
        return {"parity": {"reached_at": check if reached else None, "closest": check}}

    both_far = parity_score([run(True, 0.9), run(True, 0.95)], 3e-3)
    both_near = parity_score([run(True, 0.5), run(True, 0.6)], 6e-3)
    one_very_near = parity_score([run(True, 0.1), run(False, 1.2)], 1e-3)
    none = parity_score([run(False, 1.5), {"parity": {"reached_at": None, "closest": None}}], 1e-2)
    ranked = sorted([both_far, none, one_very_near, both_near], reverse=True)
    assert [score[-1] for score in ranked] == [6e-3, 3e-3, 1e-3, 1e-2]
    assert both_near[0] and not one_very_near[0] and not none[0]


def test_smollm2_parity_rows_mark_each_missed_target():
    from benchmarks.parity_smollm2 import target_rows

    def row(seed, forget, retain, degenerate, level=0.05):
        return {
            "seed": seed,
            "before": {"retain_accuracy": 1.0},
            "after": {
                "forget_accuracy": forget,
                "retain_accuracy": retain,
                "forget_degenerate": degenerate,
                "forget_same_answer": 0.2,
            },
            "never_learned_accuracy": level,
            "parity": {"stopped_because": "parity reached", "kept_step": 20},
        }

    rows = target_rows([row(0, 0.0, 0.95, 0.05), row(1, 0.10, 0.85, 0.15)])
    by_name = {r[0]: r for r in rows}
    assert by_name["forget accuracy"][2:] == ["0.000", "0.100 (misses)", "0.050"]
    assert by_name["retain kept (after / before)"][2:] == ["0.950", "0.850 (misses)", "0.900"]
    assert by_name["degenerate forget answers"][3] == "0.150 (misses)"
