"""Hyperparameter tuning on one world split: NPO+CLReg with overrides, several seeds.

    python benchmarks/engine_tuning.py --split forget05 --seeds 0 1 2 \
        --grid '{"clreg_weight": 2.0}' '{"clreg_weight": 3.0, "precision": "bf16"}'

Each grid entry is a JSON object of RunConfig overrides on top of the embedded model's defaults.
Every run appends one line to `benchmarks/results/engine_tuning.jsonl` (overrides, split, seed,
forget/retain accuracy, entanglement, membership-inference AUC, seconds), so the record of what
was tried grows with each sweep. Tuning belongs on forget05; forget10 is kept for the report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clreg_core.config import default_config  # noqa: E402
from clreg_core.engine.training import run_unlearning  # noqa: E402

RECORD = Path(__file__).resolve().parent / "results" / "engine_tuning.jsonl"


def run_one(split: str, seed: int, overrides: dict) -> dict:
    config = default_config("embedded", task=f"world:{split}", seed=seed, **overrides)
    started = time.perf_counter()
    result = run_unlearning(config)
    if result.status != "finished":
        raise SystemExit(f"{overrides} seed {seed}: {result.status}: {result.reason}")
    after = result.report["metrics"]["after"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "overrides": overrides,
        "split": split,
        "seed": seed,
        "forget_accuracy": after["forget_accuracy"],
        "retain_accuracy": after["retain_accuracy"],
        "entanglement": after["entanglement"],
        "mia_auc": after.get("mia_auc"),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", default="forget05")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--grid", nargs="+", default=["{}"], help="JSON override objects")
    args = parser.parse_args()
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    for entry in args.grid:
        overrides = json.loads(entry)
        rows = []
        for seed in args.seeds:
            rows.append(run_one(args.split, seed, overrides))
            with RECORD.open("a") as record:
                record.write(json.dumps(rows[-1]) + "\n")
        cells = " | ".join(
            f"seed {r['seed']}: forget {r['forget_accuracy']:.3f} retain "
            f"{r['retain_accuracy']:.3f} ES {r['entanglement']:.1f}"
            for r in rows
        )
        print(f"{json.dumps(overrides)}  {cells}", flush=True)


if __name__ == "__main__":
    main()
