"""Per-method defaults for the embedded model (issue 32, part 1).

Every base method ran with NPO's tuned settings on the embedded model (MODEL_DEFAULTS
["embedded"]). This searches, for GradDiff, SimNPO and RMU with CLReg off and on, settings over
the model's defaults with which a run stopped by the parity rule meets four criteria, judged on
its report (see `judge`):

1. parity reached (the live rule entered the band);
2. it holds in the final measurement: forget accuracy <= reference + 0.05 and |MIA AUC - 0.5|
   <= 0.15 (reference: the gold model's forget accuracy where there is one, else the holdout's,
   i.e. chance, at the kept step: `reference_accuracy`);
3. retain accuracy >= 0.95;
4. fluent: forget answers not well-formed <= reference + 0.10 (gold's, else the holdout's at
   the kept step: `reference_ill_formed`) and degenerate forget answers <= 0.10.

    # in a checkout others edit, run from an export of HEAD, rows into the checkout:
    rm -rf /tmp/md-src && mkdir /tmp/md-src && git archive HEAD | tar -x -C /tmp/md-src
    cp benchmarks/method_defaults.py /tmp/md-src/benchmarks/
    cd /tmp/md-src && PYTHONPATH=/tmp/md-src nice -n 10 /work/main/.venv/bin/python \
        benchmarks/method_defaults.py run --stage tune --task world:forget05 --seeds 0 \
        --method rmu --try '{"learning_rate": 0.002, "rmu_steering": 10}' \
        --results /work/main/benchmarks/results/method_defaults.jsonl
    # or many jobs at once: --jobs FILE, a JSON list of {stage, method, clreg, task, seed,
    # overrides}
    python benchmarks/method_defaults.py report --stage tune     # every tuning run, by cell
    python benchmarks/method_defaults.py report --stage confirm \
        --chosen benchmarks/results/method_defaults.json           # held-out runs, chosen settings
    python benchmarks/method_defaults.py write \
        --chosen benchmarks/results/method_defaults.json \
        --out benchmarks/results/method_defaults.json

Each finished run is one JSON line of the results file, appended as it ends; a rerun skips the
runs already there (same method, clreg, task, seed, overrides). Two worker processes (spawn),
one thread each.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results" / "method_defaults.jsonl"
KEPT = (
    "forget_accuracy",
    "retain_accuracy",
    "mia_auc",
    "forget_degenerate",
    "forget_ill_formed",
    "forget_same_answer",
    "entanglement",
)
PARITY_KEPT = ("reached", "stopped_because", "kept_step", "trained_steps")
ACCURACY_MARGIN = 0.05
AUC_MARGIN = 0.15
RETAIN_MIN = 0.95
# SmolLM2 loses a few of its own retain answers to any training (BENCHMARKS.md "SmolLM2-135M:
# what its retain answers cost"), so its bar is a share of what it answered before (issue 32)
RETAIN_KEPT_MIN = 0.90
ILL_FORMED_MARGIN = 0.10
DEGENERATE_MAX = 0.10
NAMES = {"graddiff": "GradDiff", "npo": "NPO", "simnpo": "SimNPO", "rmu": "RMU"}


def canonical(overrides: dict) -> str:
    return json.dumps(overrides, sort_keys=True)


def model_of(row: dict) -> str:
    return row.get("model") or "embedded"


def key(row: dict) -> tuple:
    return (
        model_of(row),
        row["method"],
        bool(row["clreg"]),
        row["task"],
        int(row["seed"]),
        canonical(row.get("overrides") or {}),
    )


def load_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    latest: dict[tuple, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            latest[key(row)] = row
    return list(latest.values())


# --- the criteria ---------------------------------------------------------------------------


def _reference(row: dict, measure: str) -> tuple[float | None, str]:
    """Gold's forget `measure` where there is a gold model, else the holdout's at the kept step
    (the parity summary's closest evaluation); with which one it is."""
    gold = row.get("gold") or {}
    if gold.get(f"forget_{measure}") is not None:
        return gold[f"forget_{measure}"], "gold"
    closest = (row.get("parity") or {}).get("closest") or {}
    if closest.get(f"holdout_{measure}") is not None:
        return closest[f"holdout_{measure}"], "holdout"
    return None, "none"


def reference_accuracy(row: dict) -> tuple[float | None, str]:
    """The forget accuracy a run is held to: gold's, else chance (the holdout's)."""
    return _reference(row, "accuracy")


def reference_ill_formed(row: dict) -> tuple[float | None, str]:
    """The share of not well-formed forget answers a run is held to: gold's, else the holdout's."""
    return _reference(row, "ill_formed")


def retain_kept(row: dict) -> bool:
    after = row["after"]["retain_accuracy"]
    if model_of(row) == "embedded":
        return after >= RETAIN_MIN - 1e-9
    before = (row.get("before") or {}).get("retain_accuracy") or 0.0
    return before > 0 and after / before >= RETAIN_KEPT_MIN - 1e-9


def judge(row: dict) -> dict:
    """Each criterion's verdict for one finished run."""
    after = row.get("after") or {}
    if row.get("status") != "finished" or after.get("forget_accuracy") is None:
        return {"parity": False, "holds": False, "retain": False, "fluent": False, "all": False}
    ref_acc, _ = reference_accuracy(row)
    ref_ill, _ = reference_ill_formed(row)
    parity = bool((row.get("parity") or {}).get("reached"))
    # a topic pack's parity is judged without the membership AUC (its never-learned questions
    # are other questions, not other people of one world), so it is no criterion there either
    auc_ok = row["task"].startswith("pack:") or abs(after["mia_auc"] - 0.5) <= AUC_MARGIN + 1e-9
    holds = (
        ref_acc is not None
        and after["forget_accuracy"] <= ref_acc + ACCURACY_MARGIN + 1e-9
        and auc_ok
    )
    retain = retain_kept(row)
    ill = after.get("forget_ill_formed")
    fluent = (
        ref_ill is not None
        and ill is not None
        and ill <= ref_ill + ILL_FORMED_MARGIN + 1e-9
        and (after.get("forget_degenerate") or 0.0) <= DEGENERATE_MAX + 1e-9
    )
    verdict = {"parity": parity, "holds": bool(holds), "retain": bool(retain), "fluent": fluent}
    verdict["all"] = all(verdict.values())
    return verdict


# --- one run --------------------------------------------------------------------------------


def row_from_report(job: dict, status: str, reason: str, report: dict) -> dict:
    metrics = report.get("metrics") or {}
    parity = report.get("parity") or {}
    gold = metrics.get("gold") or {}
    samples = [
        {k: g.get(k) for k in ("prompt", "expected", "before", "after", "gold") if k in g}
        for g in (report.get("generations") or [])
        if g.get("set") == "forget"
    ][:3]
    return {
        **job,
        "status": status,
        "reason": reason,
        "parity": {
            **{k: parity.get(k) for k in PARITY_KEPT},
            "closest": parity.get("closest"),
        },
        "before": {k: (metrics.get("before") or {}).get(k) for k in KEPT},
        "after": {k: (metrics.get("after") or {}).get(k) for k in KEPT},
        "gold": {k: gold.get(k) for k in KEPT} if gold else {},
        "samples": samples,
        "report_seconds": (report.get("timing") or {}).get("total_seconds"),
    }


def run_one(job: dict) -> dict:
    import torch

    torch.set_num_threads(job.get("threads", 1))
    started = time.perf_counter()
    try:
        from clreg_core.config import default_config
        from clreg_core.engine.training import run_unlearning

        config = default_config(
            model_of(job),
            task=job["task"],
            seed=job["seed"],
            method=job["method"],
            clreg=job["clreg"],
            **job["overrides"],
        )
        result = run_unlearning(config)
        row = row_from_report(job, result.status, result.reason or "", result.report)
        row["config"] = {
            k: getattr(config, k)
            for k in (
                "learning_rate",
                "lr_schedule",
                "steps",
                "retain_weight",
                "retain_loss",
                "forget_weight",
                "guess_weight",
                "npo_beta",
                "simnpo_beta",
                "rmu_steering",
                "rmu_layer",
                "clreg_weight",
                "forget_span",
            )
        }
    except Exception as error:  # noqa: BLE001 - recorded, tried again on a rerun
        row = {**job, "status": "error", "reason": repr(error)}
        row["traceback"] = traceback.format_exc()[-2000:]
    row["seconds"] = round(time.perf_counter() - started, 1)
    row["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    row["verdict"] = judge(row)
    return row


def fmt(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def short(row: dict) -> str:
    if row.get("status") != "finished":
        return row.get("reason", "")[:300]
    a, p = row["after"], row["parity"]
    ref, src = reference_accuracy(row)
    ill, _ = reference_ill_formed(row)
    v = row["verdict"]
    sample = row["samples"][0]["after"] if row.get("samples") else ""
    return (
        f"{p['stopped_because']} kept {p['kept_step']}/{p['trained_steps']} | "
        f"F {fmt(a['forget_accuracy'])} "
        f"(ref {fmt(ref)} {src}) auc {fmt(a['mia_auc'])} R {fmt(a['retain_accuracy'])} "
        f"ill {fmt(a['forget_ill_formed'])} (ref {fmt(ill)}) deg {fmt(a['forget_degenerate'])} "
        f"same {fmt(a['forget_same_answer'])} | "
        + " ".join(k for k in ("parity", "holds", "retain", "fluent") if not v[k])
        + (" PASS" if v["all"] else "")
        + f" | {sample!r}"
    )


def run_jobs(jobs: list[dict], path: Path, workers: int) -> None:
    done = {key(r) for r in load_rows(path) if r.get("status") == "finished"}
    todo = [j for j in jobs if key(j) not in done]
    print(f"{len(todo)} of {len(jobs)} runs to do", flush=True)
    if not todo:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with context.Pool(min(workers, len(todo))) as pool:
        for n, row in enumerate(pool.imap_unordered(run_one, todo), 1):
            with path.open("a") as out:
                out.write(json.dumps(row) + "\n")
            print(
                f"[{time.strftime('%H:%M:%S')}] {n}/{len(todo)} {row['method']}"
                f"{'+clreg' if row['clreg'] else ''} {row['task']} s{row['seed']} "
                f"{canonical(row['overrides'])} {row['seconds']:.0f}s: {short(row)}",
                flush=True,
            )
    print(f"done in {time.perf_counter() - started:.0f} s", flush=True)


# --- the reading ----------------------------------------------------------------------------


# each model's tuning split; SmolLM2 knows no invented people, so its splits are topic packs:
# tuned on its default pack, confirmed on one never tuned on
TUNING_TASKS = {"embedded": "world:forget05", "smollm2-135m": "pack:chemical_elements"}


def chosen_overrides(chosen: dict, model: str, method: str, clreg: bool) -> dict:
    """The overrides a (method, CLReg) cell runs with under `chosen` ({model: {...}})."""
    per = chosen.get(model, {})
    extra = per.get(f"{method}+clreg", {}) if clreg else {}
    return {**per.get(method, {}), **extra}


def cells(
    rows: list[dict],
    stage: str | None = None,
    chosen: dict | None = None,
    model: str = "embedded",
) -> dict:
    """Finished runs by (method, clreg, task, overrides). stage "confirm": every run off the
    tuning split (a run of untuned15 made while tuning counts too: same settings, same run);
    with `chosen`, only the runs at each cell's chosen settings."""
    out: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.get("status") != "finished" or (model and model_of(row) != model):
            continue
        tuning = row["task"] == TUNING_TASKS.get(model_of(row))
        if (stage == "confirm" and tuning) or (stage == "tune" and not tuning):
            continue
        if chosen is not None and canonical(row["overrides"]) != canonical(
            chosen_overrides(chosen, model_of(row), row["method"], bool(row["clreg"]))
        ):
            continue
        cell = (row["method"], bool(row["clreg"]), row["task"], canonical(row["overrides"]))
        out.setdefault(cell, []).append(row)
    return out


def mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarize(group: list[dict]) -> dict:
    group = sorted(group, key=lambda r: r["seed"])
    verdicts = [judge(r) for r in group]
    count = {k: sum(v[k] for v in verdicts) for k in ("parity", "holds", "retain", "fluent", "all")}
    sample = next((r["samples"][0] for r in group if r.get("samples")), None)
    return {
        "seeds": [r["seed"] for r in group],
        "passed": count,
        "median_trained_steps": statistics.median(r["parity"]["trained_steps"] for r in group),
        "kept_steps": [r["parity"]["kept_step"] for r in group],
        "forget_accuracy": mean(r["after"]["forget_accuracy"] for r in group),
        "reference_accuracy": mean(reference_accuracy(r)[0] for r in group),
        "reference_source": reference_accuracy(group[0])[1],
        "mia_auc": mean(r["after"]["mia_auc"] for r in group),
        "retain_accuracy": mean(r["after"]["retain_accuracy"] for r in group),
        "retain_min": min(r["after"]["retain_accuracy"] for r in group),
        "retain_before": mean(r["before"]["retain_accuracy"] for r in group),
        "forget_ill_formed": mean(r["after"]["forget_ill_formed"] for r in group),
        "reference_ill_formed": mean(reference_ill_formed(r)[0] for r in group),
        "forget_degenerate": mean(r["after"]["forget_degenerate"] for r in group),
        "forget_same_answer": mean(r["after"]["forget_same_answer"] for r in group),
        "sample": sample,
    }


def report(
    rows: list[dict],
    stage: str | None = None,
    chosen: dict | None = None,
    model: str = "embedded",
) -> str:
    lines = [
        "| method | CLReg | task | settings | seeds | parity | holds | retain | fluent | all "
        "| median steps | forget acc (ref) | MIA AUC | retain acc (min) | ill-formed (ref) "
        "| degen | sample forget answer |",
        "|" + "---|" * 17,
    ]
    for (method, clreg, task, over), group in sorted(cells(rows, stage, chosen, model).items()):
        s = summarize(group)
        n = len(group)
        c = s["passed"]
        sample = s["sample"]["after"] if s["sample"] else ""
        lines.append(
            f"| {NAMES.get(method, method)} | {'on' if clreg else 'off'} | {task} | `{over}` | "
            f"{n} | {c['parity']}/{n} | {c['holds']}/{n} | {c['retain']}/{n} | "
            f"{c['fluent']}/{n} | {c['all']}/{n} | {s['median_trained_steps']:g} | "
            f"{fmt(s['forget_accuracy'])} ({fmt(s['reference_accuracy'])} "
            f"{s['reference_source']}) | {fmt(s['mia_auc'])} | {fmt(s['retain_accuracy'])} "
            + (  # SmolLM2's bar is a share of before (RETAIN_KEPT_MIN)
                f"({fmt(s['retain_min'])}) | "
                if model == "embedded"
                else f"of {fmt(s['retain_before'])} before | "
            )
            + f"{fmt(s['forget_ill_formed'])} "
            f"({fmt(s['reference_ill_formed'])}) | {fmt(s['forget_degenerate'])} | "
            f"{sample!r} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("run", "report", "write"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--stage", default=None)
    parser.add_argument("--task", nargs="+", default=["world:forget05"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--method", nargs="+", default=["graddiff"])
    parser.add_argument("--clreg", choices=("off", "on", "both"), default="both")
    parser.add_argument(
        "--try",
        dest="tries",
        action="append",
        default=[],
        help="overrides as JSON; repeat for several settings",
    )
    parser.add_argument("--jobs", type=Path, help="a JSON list of jobs instead of the grid")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="embedded", help="embedded or smollm2-135m")
    parser.add_argument("--threads", type=int, default=1, help="torch threads a run")
    parser.add_argument("--out", type=Path, help="write: the chosen settings' JSON")
    parser.add_argument("--chosen", type=Path, help="write: JSON {embedded: {...}} to save")
    args = parser.parse_args(argv)
    if args.action == "run":
        if args.jobs:
            jobs = json.loads(args.jobs.read_text())
        else:
            clregs = {"off": [False], "on": [True], "both": [False, True]}[args.clreg]
            tries = [json.loads(t) for t in args.tries] or [{}]
            jobs = [
                {
                    "stage": args.stage,
                    "model": args.model,
                    "method": m,
                    "clreg": c,
                    "task": t,
                    "seed": s,
                    "overrides": o,
                }
                for s in args.seeds
                for t in args.task
                for o in tries
                for m in args.method
                for c in clregs
            ]
        for job in jobs:
            job.setdefault("threads", args.threads)
        run_jobs(jobs, args.results, args.workers)
    elif args.action == "report":
        chosen = json.loads(args.chosen.read_text()) if args.chosen else None
        print(report(load_rows(args.results), args.stage, chosen, args.model))
    else:
        rows = load_rows(args.results)
        chosen = json.loads(args.chosen.read_text()) if args.chosen else {}
        measured = {}
        confirmed = cells(rows, "confirm", chosen, args.model)
        for (method, clreg, task, over), group in sorted(confirmed.items()):
            name = f"{method}{'+clreg' if clreg else ''}"
            s = summarize(group)
            s.pop("sample")
            measured.setdefault(name, {})[task] = {"overrides": json.loads(over), **s}
        import torch

        out = {
            **chosen,
            "criteria": {
                "parity": "report.parity.reached",
                "holds": f"after forget_accuracy <= reference + {ACCURACY_MARGIN} (gold's "
                "forget accuracy, else the holdout's at the kept step) and |after mia_auc - "
                f"0.5| <= {AUC_MARGIN} (the AUC not on topic packs)",
                "retain": f"after retain_accuracy >= {RETAIN_MIN}"
                if args.model == "embedded"
                else f"after / before retain_accuracy >= {RETAIN_KEPT_MIN}",
                "fluent": f"after forget_ill_formed <= reference + {ILL_FORMED_MARGIN} (gold's,"
                " else the holdout's at the kept step) and after forget_degenerate <= "
                f"{DEGENERATE_MAX}",
            },
            "measured": measured,
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()} CPU, {multiprocessing.cpu_count()} threads, "
            f"torch {torch.__version__}, 2 runs at a time, 1 thread each",
        }
        args.out.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
