"""Retrain parity at the defaults (issue 11): does the default run forget like a model that never
saw the forget set?

    python benchmarks/parity.py                 # layer choice on forget05, then forget10 x 3 seeds
    python benchmarks/parity.py --skip-layers   # only the held-out forget10 check
    python benchmarks/parity.py --overrides '{"learning_rate": 0.004}'   # a tuning row, printed

1. Feature layer (tuning split forget05, seeds 0 and 1): NPO + CLReg with the features at each
   decoder block, stopped by the parity rule: entanglement at every layer, fluency, forgetting
   and retain, so the default layer is chosen from measurements.
2. The default run on the held-out forget10 split, NPO and NPO + CLReg, 3 seeds: each of the
   issue's targets (forget accuracy near the gold model's, retain, Forget Quality, PrivLeak,
   MIA AUC, degenerate answers, entanglement at the regularised layer), median over seeds.

Two runs at a time, one thread each. Writes `benchmarks/results/parity.json` and the "Retrain
parity" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.markdown import describe_machine, table, write_section  # noqa: E402
from clreg_core.config import default_config  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "parity.json"
LAYERS = (-1, -2, -3)
SEEDS = (0, 1, 2)
KEPT = (
    "forget_accuracy",
    "retain_accuracy",
    "mia_auc",
    "forget_quality",
    "privleak",
    "forget_degenerate",
    "forget_same_answer",
    "forget_distinct_2",
    "entanglement",
    "entanglement_by_layer",
)


def run(task: str, seed: int, overrides: dict) -> dict:
    import torch

    from clreg_core.engine.training import run_unlearning

    torch.set_num_threads(1)
    config = default_config("embedded", task=task, seed=seed, **overrides)
    result = run_unlearning(config)
    metrics = result.report["metrics"]
    return {
        "task": task,
        "seed": seed,
        "overrides": overrides,
        "status": result.status,
        "after": {k: metrics["after"].get(k) for k in KEPT},
        "before": {k: metrics["before"].get(k) for k in KEPT},
        "gold": metrics.get("gold", {}),
        "parity": {
            k: result.report["parity"].get(k)
            for k in ("stopped_because", "kept_step", "trained_steps")
        },
        "forget_answers": [
            {"after": g["after"], "gold": g.get("gold")}
            for g in result.report["generations"]
            if g["set"] == "forget"
        ],
        "seconds": result.report["timing"]["total_seconds"],
    }


def median(rows: list[dict], key: str, side: str = "after") -> float | None:
    values = [r[side].get(key) for r in rows if r[side].get(key) is not None]
    return statistics.median(values) if values else None


def layer_rows(rows: list[dict]) -> list[list]:
    out = []
    for layer in LAYERS:
        mine = [r for r in rows if r["overrides"]["feature_layer"] == layer]
        by_layer = [
            statistics.median(v)
            for v in zip(*(r["after"]["entanglement_by_layer"] for r in mine), strict=True)
        ]
        out.append(
            [
                layer,
                f"{median(mine, 'forget_accuracy'):.3f}",
                f"{median(mine, 'retain_accuracy'):.3f}",
                f"{median(mine, 'mia_auc'):.2f}",
                f"{median(mine, 'forget_degenerate'):.2f}",
                " / ".join(f"{v:.1f}" for v in by_layer),
                ", ".join(r["parity"]["stopped_because"] for r in mine),
            ]
        )
    return out


TARGETS = {  # name: (check on the median, what the issue asks)
    "forget accuracy": ("forget_accuracy", "within 0.05 of gold's"),
    "retain accuracy": ("retain_accuracy", ">= 0.95"),
    "Forget Quality": ("forget_quality", ">= 0.05"),
    "PrivLeak": ("privleak", "|.| <= 25"),
    "MIA AUC": ("mia_auc", "0.35-0.65"),
    "degenerate forget answers": ("forget_degenerate", "<= 0.10"),
    # not asked by the issue; the parity band's: one answer to every question is a collapse too
    "forget answers all alike": ("forget_same_answer", "<= gold's + 0.10"),
}


def meets(key: str, value: float, gold: dict) -> bool:
    if key == "forget_accuracy":
        return abs(value - gold["forget_accuracy"]) <= 0.05
    if key == "forget_same_answer":
        return value <= gold.get(key, 0.0) + 0.10
    return {
        "retain_accuracy": value >= 0.95,
        "forget_quality": value >= 0.05,
        "privleak": abs(value) <= 25,
        "mia_auc": 0.35 <= value <= 0.65,
        "forget_degenerate": value <= 0.10,
    }[key]


def target_rows(rows: list[dict]) -> list[list]:
    gold = rows[0]["gold"]
    methods = {"NPO": [r for r in rows if not r["overrides"]["clreg"]]}
    methods["NPO + CLReg"] = [r for r in rows if r["overrides"]["clreg"]]
    out = []
    for name, (key, wanted) in TARGETS.items():
        cells = [name, wanted, f"{gold.get(key, float('nan')):.3f}" if key in gold else "-"]
        for mine in methods.values():
            value = median(mine, key)
            mark = "meets" if value is not None and meets(key, value, gold) else "misses"
            cells.append(f"{value:.3f} ({mark})" if value is not None else "n/a")
        out.append(cells)
    layer = default_config("embedded").feature_layer
    es = [
        statistics.median(r["after"]["entanglement_by_layer"][layer] for r in mine)
        for mine in methods.values()
    ]
    out.append(
        ["entanglement, regularised layer", "CLReg < NPO", "-", f"{es[0]:.1f}", f"{es[1]:.1f}"]
    )
    stops = [
        ", ".join(f"{r['parity']['stopped_because']} ({r['parity']['kept_step']})" for r in mine)
        for mine in methods.values()
    ]
    out.append(["where the parity rule stopped (kept step)", "parity reached", "-", *stops])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-layers", action="store_true")
    parser.add_argument(
        "--overrides",
        type=json.loads,
        help="settings over the defaults as JSON, e.g. '{\"learning_rate\": 0.004}': only the "
        "held-out forget10 check, with them; prints its table and writes nothing (a tuning row)",
    )
    args = parser.parse_args()
    if args.overrides is not None:
        return tuning_row(args.overrides)
    started = time.perf_counter()
    jobs = (
        []
        if args.skip_layers
        else [
            ("world:forget05", seed, {"feature_layer": layer})
            for layer in LAYERS
            for seed in (0, 1)
        ]
    )
    jobs += [("world:forget10", seed, {"clreg": c}) for c in (False, True) for seed in SEEDS]
    with ProcessPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(run, *zip(*jobs, strict=True)))
    layers = [r for r in rows if r["task"] == "world:forget05"]
    held_out = [r for r in rows if r["task"] == "world:forget10"]
    layers_run = {"date": time.strftime("%Y-%m-%d")}
    if args.skip_layers and RESULTS.exists():  # keep the last layer measurements and their date
        previous = json.loads(RESULTS.read_text())
        layers = previous.get("layers", [])
        layers_run = {"date": previous.get("layers_date", previous.get("date"))}
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": describe_machine("cpu") + " (2 runs at once, 1 thread each)",
        "command": " ".join(["python", "benchmarks/parity.py", *sys.argv[1:]]),
        "seconds": time.perf_counter() - started,
        "layers": layers,
        "layers_date": layers_run["date"],
        "forget10": held_out,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    body = [
        "## Retrain parity at the defaults",
        "",
        f"{out['date']}, {out['machine']}; `{out['command']}` took {out['seconds'] / 60:.1f} min. "
        "Raw rows in `benchmarks/results/parity.json`.",
    ]
    if layers:
        body += [
            "",
            "### Feature layer (forget05, seeds 0-1, NPO + CLReg, medians; "
            f"run {layers_run['date']})",
            "",
            table(
                [
                    "layer",
                    "forget acc",
                    "retain acc",
                    "MIA AUC",
                    "degenerate",
                    "ES by layer",
                    "parity rule",
                ],
                layer_rows(layers),
            ),
        ]
    body += [
        "",
        "### Held-out forget10, default run, 3 seeds (medians)",
        "",
        table(["target", "issue asks", "gold model", "NPO", "NPO + CLReg"], target_rows(held_out)),
    ]
    write_section("parity", "\n".join(body))
    print("\n".join(body))


def tuning_row(overrides: dict) -> None:
    """The held-out check with `overrides` on top of the defaults, printed only: how a
    candidate default compares before it becomes one (BENCHMARKS.md "Parity tuning")."""
    jobs = [
        ("world:forget10", seed, {**overrides, "clreg": c}) for c in (False, True) for seed in SEEDS
    ]
    with ProcessPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(run, *zip(*jobs, strict=True)))
    print(f"overrides: {json.dumps(overrides)}")
    print(table(["target", "issue asks", "gold model", "NPO", "NPO + CLReg"], target_rows(rows)))


if __name__ == "__main__":
    main()
