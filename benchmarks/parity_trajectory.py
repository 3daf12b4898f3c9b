"""One run's way to (and past) retrain parity, evaluation by evaluation (issue 11 §4 tuning).

    python benchmarks/parity_trajectory.py '{"clreg": false, "task": "world:forget05"}'
    python benchmarks/parity_trajectory.py '{"forget_span": "new_words", "show": [60, 100]}'

Trains the embedded model with the given RunConfig overrides under `stop_at="steps"` and, at
every live evaluation, prints the parity measures the stop rule reads (membership AUC forget vs
holdout, forget accuracy vs chance, degenerate share, retain kept) and the Forget Quality
against the gold model (the world's forget01/05/10 people are all outside its training set), so
one sees where a setting crosses the band and what it costs. "show" lists steps at which ten
forget questions and their greedy answers are printed. Appends one JSON row per run to
results/parity_trajectories.jsonl.

    python benchmarks/parity_trajectory.py --summary   # the table in BENCHMARKS.md from the file
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clreg_core.engine.stopping import MEASURES  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "parity_trajectories.jsonl"
SHOWN = MEASURES  # what the stop rule reads


def summary() -> None:
    """Per recorded run: the evaluation closest to parity (the stop rule's distance, default
    band) and its measures, as a section of BENCHMARKS.md."""
    from benchmarks.markdown import table, write_section
    from clreg_core.metrics.parity import ParityBand, parity_distance

    band = ParityBand()
    rows = []
    for line in RESULTS.read_text(encoding="utf-8").splitlines():
        run = json.loads(line)
        setting = {"task": "world:forget10"} | {
            k: v for k, v in run["overrides"].items() if k != "stop_at"
        }
        best = min(run["trajectory"], key=lambda r: parity_distance(r, band))
        rows.append(
            [
                ", ".join(f"{k}={v}" for k, v in setting.items()),
                best["step"],
                f"{parity_distance(best, band):.1f}",
                f"{best['parity_auc']:.2f}",
                f"{best['forget_accuracy']:.2f} / {best['holdout_accuracy']:.2f}",
                f"{best['forget_degenerate']:.2f}",
                same_answer(best),
                f"{best['retain_kept']:.2f}",
                f"{best['forget_quality']:.3f}" + (" †" if run.get("note") else ""),
            ]
        )
    body = [
        "## Parity tuning: how close each setting gets",
        "",
        "`python benchmarks/parity_trajectory.py '<overrides>'` per row (the retrained embedded "
        "model, NPO + CLReg unless clreg=False, its defaults otherwise, all steps trained, seed "
        "0; the first model's rows are in `parity_trajectories_model1.jsonl`; † marks a Forget "
        "Quality against the first gold model); `--summary` writes this table from "
        "`benchmarks/results/parity_trajectories.jsonl`. Each row is the live evaluation "
        "closest to parity by the stop rule's distance (max over its parts, 1.0 = the band's "
        "edge: AUC 0.5 ± 0.1, forget accuracy <= chance + 0.05, <= 10% degenerate, <= 5% of the "
        "retain answer probability lost, and since 2026-12-01 13:00 at most 0.1 more of the "
        "answers giving one same answer than the original model's answers about strangers; "
        "rows before it did not record that, –). Forget Quality is against the gold model.",
        "",
        table(
            [
                "setting",
                "step",
                "distance",
                "AUC",
                "forget acc / chance",
                "degenerate",
                "same answer / strangers'",
                "retain kept",
                "FQ",
            ],
            rows,
        ),
    ]
    write_section("parity-tuning", "\n".join(body))
    print("\n".join(body))


def same_answer(row: dict) -> str:
    """The forget answers' same-answer share against the strangers' (– where not recorded)."""
    if "forget_same_answer" not in row:
        return "–"
    return f"{row['forget_same_answer']:.2f} / {row['holdout_same_answer']:.2f}"


def main() -> None:
    if sys.argv[1:] == ["--summary"]:
        summary()
        return
    import numpy as np
    import torch

    from clreg_core.config import default_config
    from clreg_core.engine.assessment import truth_ratios_of
    from clreg_core.engine.evaluation import Measurer, qa_only, sample_items
    from clreg_core.engine.tasks import task_for_model
    from clreg_core.engine.training import run_unlearning
    from clreg_core.metrics.privacy import forget_quality
    from clreg_core.models.loading import load_model

    overrides = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    show = set(overrides.pop("show", []))
    torch.set_num_threads(int(overrides.pop("threads", torch.get_num_threads())))
    config = default_config("embedded", **{"stop_at": "steps", **overrides})
    loaded = load_model(config.model)
    task = task_for_model(config.task, loaded.spec)
    forget = qa_only(sample_items(task.forget, config.final_eval_items, config.seed))
    gold = load_model(loaded.spec.gold_source)
    gold_measurer = Measurer(gold.model, gold.tokenizer, gold.prompt_style, config.max_length)
    gold_ratios = truth_ratios_of(gold_measurer, forget, adapter=False)
    measurer = Measurer.for_run(loaded.model, loaded, config)
    rows = []

    def on_event(event) -> None:
        metrics = event.data.get("metrics", {}) if event.kind == "evaluation" else {}
        if "parity_auc" not in metrics:  # the evaluation's second half carries them
            return
        ratios = truth_ratios_of(measurer, forget, adapter=True)  # the model as trained now
        row = {"step": event.step, "forget_quality": forget_quality(ratios, gold_ratios)}
        row["truth_ratio"] = float(np.median(ratios))
        row.update({k: metrics[k] for k in SHOWN})
        rows.append(row)
        print({k: round(v, 3) for k, v in row.items()}, flush=True)
        if event.step in show:
            for item, answer in zip(forget[:10], measurer.answers(forget[:10], True), strict=True):
                print(f"    {item.question} -> {answer}")

    started = time.perf_counter()
    result = run_unlearning(config, on_event=on_event, loaded=loaded, task=task)
    after = result.report["metrics"]["after"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        record = {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "overrides": {**overrides, "stop_at": config.stop_at},
            "trajectory": rows,
            "after": {k: after.get(k) for k in ("forget_accuracy", "retain_accuracy", "mia_auc")},
            "seconds": round(time.perf_counter() - started, 1),
        }
        out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
