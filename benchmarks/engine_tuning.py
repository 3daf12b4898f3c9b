"""Hyperparameter tuning on one world split: NPO+CLReg with overrides, several seeds.

    python benchmarks/engine_tuning.py --split forget05 --seeds 0 1 2 \
        --grid '{"clreg_weight": 2.0}' '{"clreg_weight": 3.0, "precision": "bf16"}'

Each grid entry is a JSON object of RunConfig overrides on top of the embedded model's defaults.
Every run appends one line to `benchmarks/results/engine_tuning.jsonl` (overrides, split, seed,
forget/retain accuracy, entanglement at every layer, membership-inference AUC, the share of
degenerate forget answers, where the parity rule stopped, seconds), so the record of what was
tried grows with each sweep. Tuning belongs on forget05; forget10 is kept for the report.
`--workers 2` runs two configurations at once, one thread each (on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clreg_core.config import default_config  # noqa: E402
from clreg_core.engine.training import run_unlearning  # noqa: E402

RECORD = Path(__file__).resolve().parent / "results" / "engine_tuning.jsonl"


def run_one(split: str, seed: int, overrides: dict, threads: int = 0) -> dict:
    if threads:
        import torch

        torch.set_num_threads(threads)
    config = default_config("embedded", task=f"world:{split}", seed=seed, **overrides)
    started = time.perf_counter()
    result = run_unlearning(config)
    if result.status != "finished":
        raise SystemExit(f"{overrides} seed {seed}: {result.status}: {result.reason}")
    after = result.report["metrics"]["after"]
    parity = result.report.get("parity", {})
    generations = result.report["generations"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "overrides": overrides,
        "split": split,
        "seed": seed,
        "forget_accuracy": after["forget_accuracy"],
        "retain_accuracy": after["retain_accuracy"],
        "entanglement": after["entanglement"],
        "mia_auc": after.get("mia_auc"),
        "entanglement_by_layer": [round(v, 2) for v in after["entanglement_by_layer"]],
        "forget_degenerate": after.get("forget_degenerate"),
        "retain_degenerate": after.get("retain_degenerate"),
        "stopped_because": parity.get("stopped_because"),
        "kept_step": parity.get("kept_step"),
        "trained_steps": parity.get("trained_steps"),
        "forget_answers": [g["after"] for g in generations if g["set"] == "forget"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", default="forget05")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--grid", nargs="+", default=["{}"], help="JSON override objects")
    parser.add_argument("--workers", type=int, default=1, help="runs at once, one thread each")
    args = parser.parse_args()
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    jobs = [(json.loads(entry), seed) for entry in args.grid for seed in args.seeds]
    threads = 1 if args.workers > 1 else 0
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run_one, args.split, seed, o, threads) for o, seed in jobs]
        for future in futures:
            row = future.result()
            with RECORD.open("a") as record:
                record.write(json.dumps(row) + "\n")
            print(
                f"{json.dumps(row['overrides'])} seed {row['seed']}: forget "
                f"{row['forget_accuracy']:.3f} retain {row['retain_accuracy']:.3f} "
                f"AUC {row['mia_auc']:.2f} degenerate {row['forget_degenerate']:.2f} "
                f"ES {row['entanglement']:.1f} {row['stopped_because']} at "
                f"{row['kept_step']}/{row['trained_steps']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
