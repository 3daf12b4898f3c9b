"""Does a default run forget and keep, and does CLReg lower entanglement? (issue 3's claim)

    python benchmarks/engine_claims.py --split forget10 --seeds 0 1 2
    python benchmarks/engine_claims.py --split forget05 --set clreg_weight=2 anchor_weight=5

Runs plain NPO and NPO+CLReg with the embedded model's defaults (plus any `--set` overrides) on
one world split for each seed, same steps and learning rate within each pair, and checks:
- NPO+CLReg lowers forget accuracy by at least 80% (relative);
- NPO+CLReg keeps retain accuracy at least 90% of the original;
- entanglement after NPO+CLReg is lower than after plain NPO.
Tuning belongs on forget05; forget10 (the default split) is the held-out report.
Writes `benchmarks/results/engine_claims_<split>.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clreg_core.config import RunConfig, default_config  # noqa: E402
from clreg_core.engine.training import run_unlearning  # noqa: E402

KEYS = (
    "forget_accuracy",
    "retain_accuracy",
    "entanglement",
    "knn_separability",
    "mia_auc",
    "forget_quality",
    "retain_feature_shift",
)
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_overrides(pairs: list[str]) -> dict:
    types = {f: type(v) for f, v in RunConfig().to_dict().items()}
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        kind = types[key]
        out[key] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
    return out


def run_pair(split: str, seed: int, overrides: dict) -> dict:
    rows = {}
    for name, use_clreg in (("npo", False), ("npo+clreg", True)):
        config = default_config(
            "embedded", task=f"world:{split}", seed=seed, clreg=use_clreg, **overrides
        )
        started = time.perf_counter()
        result = run_unlearning(config)
        assert result.status == "finished", result.reason
        metrics = result.report["metrics"]
        rows[name] = {
            "before": {k: metrics["before"].get(k) for k in KEYS},
            "after": {k: metrics["after"].get(k) for k in KEYS},
            "entanglement_by_layer_after": metrics["after"]["entanglement_by_layer"],
            "seconds": round(time.perf_counter() - started, 1),
        }
        after = rows[name]["after"]
        print(
            f"seed {seed} {name:10s} forget {after['forget_accuracy']:.3f} "
            f"retain {after['retain_accuracy']:.3f} ES {after['entanglement']:.2f} "
            f"MIA {after['mia_auc']:.3f} ({rows[name]['seconds']} s)",
            flush=True,
        )
    return rows


def summarise(runs: list[dict]) -> dict:
    def stat(values):
        return {
            "mean": statistics.mean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        }

    summary = {}
    for name in ("npo", "npo+clreg"):
        summary[name] = {
            k: stat([r[name]["after"][k] for r in runs])
            for k in KEYS
            if all(r[name]["after"][k] is not None for r in runs)
        }
    summary["before"] = {
        k: stat([r["npo"]["before"][k] for r in runs])
        for k in KEYS
        if all(r["npo"]["before"][k] is not None for r in runs)
    }
    checks = []
    for r in runs:
        before, clreg, npo = r["npo+clreg"]["before"], r["npo+clreg"]["after"], r["npo"]["after"]
        checks.append(
            {
                "forget_drop": 1 - clreg["forget_accuracy"] / before["forget_accuracy"],
                "retain_kept": clreg["retain_accuracy"] / before["retain_accuracy"],
                "es_clreg_below_npo": clreg["entanglement"] < npo["entanglement"],
            }
        )
    summary["checks"] = checks
    summary["claims_hold"] = all(
        c["forget_drop"] >= 0.8 and c["retain_kept"] >= 0.9 and c["es_clreg_below_npo"]
        for c in checks
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", default="forget10")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], help="config overrides, key=value")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    runs = [run_pair(args.split, seed, overrides) for seed in args.seeds]
    summary = summarise(runs)
    for c, seed in zip(summary["checks"], args.seeds, strict=True):
        print(
            f"seed {seed}: forget drop {c['forget_drop']:.1%}, retain kept "
            f"{c['retain_kept']:.1%}, ES(NPO+CLReg) < ES(NPO): {c['es_clreg_below_npo']}"
        )
    print("claims hold on every seed:", summary["claims_hold"])
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "split": args.split,
        "seeds": args.seeds,
        "overrides": overrides,
        "config": default_config("embedded", **overrides).to_dict(),
        "runs": runs,
        "summary": summary,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"engine_claims_{args.split}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
