"""Depth: at retrain parity, is each method's forgetting gone or only hidden? (issue 31, part 3)

    python benchmarks/depth.py                  # the grid (resumable), then its section
    python benchmarks/depth.py --report         # only the section, from results/depth.jsonl
    python benchmarks/depth.py --smoke          # one short run, printed; nothing written

In a checkout others are editing, run it from an export of one commit, so every run imports the
same code, with the rows written into the checkout (CLREG_SOURCE_COMMIT names the export's
commit in depth.json), then write the section in the checkout:

    git archive HEAD | tar -x -C /tmp/depth-src
    ln -s $PWD/benchmarks/results/depth.jsonl $PWD/benchmarks/results/depth.json \
        /tmp/depth-src/benchmarks/results/
    CLREG_SOURCE_COMMIT=$(git rev-parse --short HEAD) nice -n 10 .venv/bin/python \
        /tmp/depth-src/benchmarks/depth.py && .venv/bin/python benchmarks/depth.py --report

Grid: base method {GradDiff, NPO, SimNPO, RMU} x CLReg {off, on} x task {world:forget10,
world:untuned15} x seeds {0, 1, 2}: 48 runs of the embedded model, each stopped by the parity
rule (the default `stop_at`) and followed by the relearning check (engine/relearning.py): 20
steps of fine-tuning on half the forget facts, recall of the other half on the run's own LoRA
and on a fresh LoRA over the merged weights, beside a reference that never learned them (the
gold model on forget10; on untuned15, which has no gold model, the original model attacked on
never-seen holdout people).

Settings are `default_config("embedded", ...)`'s, except the learning rate of GradDiff, SimNPO
and RMU: the app has no per-method defaults, so those three use the rates tuned for parity in
`results/claims_tuning-parity.json` (base method alone, forget05); NPO uses the app's default.
Within a method, the runs with and without CLReg share every setting.

Each finished run is one line of `results/depth.jsonl`, written as soon as it ends; a restart
skips the runs already there (a failed run is tried again). Two runs at a time (spawned
processes, one thread each). The summary goes to `results/depth.json` and the "Depth" section
of BENCHMARKS.md.

Verdicts. A difference between two sets of seed values counts only when the sets do not
overlap: every value of one lies beyond every value of the other (with 3 seeds a side, sets
drawn from one distribution fail to overlap by chance 2 times in 20). Against the relearning
reference the gap must also exceed the reference margin (`SAME_AS_REFERENCE`, 0.15, what the
check's test sample can tell apart): hidden when min(recovered) - max(reference) > 0.15.
Anything else reads "no difference beyond the seed spread".
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.markdown import (  # noqa: E402
    describe_machine,
    mean_spread,
    provenance,
    table,
    write_section,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
ROWS_PATH = RESULTS / "depth.jsonl"
SUMMARY_PATH = RESULTS / "depth.json"
TUNING_PATH = RESULTS / "claims_tuning-parity.json"
COMMAND = "nice -n 10 python benchmarks/depth.py"
SECTION = "depth"
TITLE = "Depth: gone or only hidden? (relearning at parity)"

METHODS = ("graddiff", "npo", "simnpo", "rmu")
CLREG = (False, True)
TASKS = ("world:forget10", "world:untuned15")
SEEDS = (0, 1, 2)
# the rates the app lacks per method (another issue): taken from the parity tuning
TUNED_METHODS = ("graddiff", "simnpo", "rmu")
NAMES = {"graddiff": "GradDiff", "npo": "NPO", "simnpo": "SimNPO", "rmu": "RMU"}
# engine/relearning.py's SAME_AS_REFERENCE, read from there at run time (see reference_margin)
REFERENCE_MARGIN_FALLBACK = 0.15

# per run, before and after (and the gold model's where present)
KEPT = (
    "forget_accuracy",
    "retain_accuracy",
    "forget_degenerate",
    "mia_auc",
    "entanglement",
    "linear_probe",
    "knn_separability",
    "silhouette",
    "forget_quality",
    "privleak",
    "membership_probe",
    "membership_probe_by_layer",
    "entanglement_by_layer",
)
PARITY_KEPT = ("reached", "stopped_because", "kept_step", "trained_steps", "measurable")


def reference_margin() -> float:
    try:
        from clreg_core.engine.relearning import SAME_AS_REFERENCE
    except ImportError:  # pragma: no cover - the engine is always importable in this project
        return REFERENCE_MARGIN_FALLBACK
    return SAME_AS_REFERENCE


# --- the grid ---------------------------------------------------------------------------


def tuned_rates(path: Path = TUNING_PATH) -> dict[str, float]:
    """GradDiff's, SimNPO's and RMU's learning rates tuned for parity."""
    rates = json.loads(path.read_text())["learning_rates"]
    return {method: float(rates[method]) for method in TUNED_METHODS}


def overrides_for(method: str, rates: dict[str, float]) -> dict:
    """What a run sets over default_config besides task, seed, method and clreg."""
    return {"learning_rate": rates[method]} if method in rates else {}


def grid(seeds=SEEDS, tasks=TASKS, methods=METHODS) -> list[dict]:
    """The runs, seed by seed: a grid stopped early still holds whole seeds of every cell."""
    return [
        {"method": method, "clreg": clreg, "task": task, "seed": seed}
        for seed in seeds
        for task in tasks
        for method in methods
        for clreg in CLREG
    ]


def key(row: dict) -> tuple:
    return (row["method"], bool(row["clreg"]), row["task"], int(row["seed"]))


def load_rows(path: Path = ROWS_PATH) -> list[dict]:
    """The runs on file, the latest line per run (a failed run tried again replaces it)."""
    if not path.exists():
        return []
    latest: dict[tuple, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            latest[key(row)] = row
    return list(latest.values())


def pending(jobs: list[dict], rows: list[dict]) -> list[dict]:
    done = {key(r) for r in rows if r.get("status") == "finished"}
    return [job for job in jobs if key(job) not in done]


def curve_ends(curve) -> dict:
    if not curve:
        return {"start": None, "end": None}
    return {"start": curve[0], "end": curve[-1]}


def row_from_report(job: dict, settings: dict, status: str, reason: str, report: dict) -> dict:
    """One run's line of depth.jsonl from its report (pure: tested on hand-made reports)."""
    metrics = report.get("metrics") or {}
    parity = report.get("parity") or {}
    relearning = report.get("relearning") or {}
    reference = relearning.get("reference") or {}
    gold = metrics.get("gold") or {}
    return {
        **job,
        "settings": settings,
        "status": status,
        "reason": reason,
        "parity": {k: parity.get(k) for k in PARITY_KEPT},
        "before": {k: (metrics.get("before") or {}).get(k) for k in KEPT},
        "after": {k: (metrics.get("after") or {}).get(k) for k in KEPT},
        "gold": {k: gold.get(k) for k in KEPT} if gold else {},
        "relearning": {
            "unavailable": relearning.get("unavailable"),
            "steps": relearning.get("steps"),
            "shown_items": relearning.get("shown_items"),
            "test_items": relearning.get("test_items"),
            "same_lora": curve_ends(relearning.get("same_lora")),
            "fresh_lora": curve_ends(relearning.get("fresh_lora")),
            "reference": {
                "model": reference.get("model"),
                "unavailable": reference.get("unavailable"),
                **curve_ends(reference.get("curve")),
            },
            "verdict": relearning.get("verdict"),
            "curves": {
                "same_lora": relearning.get("same_lora"),
                "fresh_lora": relearning.get("fresh_lora"),
                "reference": reference.get("curve"),
            },
        },
        "report_seconds": (report.get("timing") or {}).get("total_seconds"),
    }


def run_one(job: dict, rates: dict[str, float], extra: dict | None = None) -> dict:
    """One run of the grid, in a worker process; a failure is a row too."""
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    settings = {**overrides_for(job["method"], rates), **(extra or {})}
    try:
        from clreg_core.config import default_config
        from clreg_core.engine.training import run_unlearning

        config = default_config(
            "embedded",
            task=job["task"],
            seed=job["seed"],
            method=job["method"],
            clreg=job["clreg"],
            relearn_check=True,
            **settings,
        )
        settings = {**settings, "learning_rate": config.learning_rate, "steps": config.steps}
        result = run_unlearning(config)
        row = row_from_report(job, settings, result.status, result.reason or "", result.report)
    except Exception as error:  # noqa: BLE001 - recorded, and tried again on a restart
        row = {**job, "settings": settings, "status": "error", "reason": repr(error)}
        row["traceback"] = traceback.format_exc()[-2000:]
    row["seconds"] = round(time.perf_counter() - started, 1)
    row["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return row


def _run_star(args: tuple) -> dict:
    return run_one(*args)


def git_state() -> dict:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:  # run from an exported tree (git archive): the commit it was exported from
        return {"commit": os.environ.get("CLREG_SOURCE_COMMIT", "?"), "dirty": False}
    return {"commit": commit, "dirty": bool(git("status", "-s"))}


def run_grid(jobs: list[dict], rates: dict, workers: int, path: Path = ROWS_PATH) -> float:
    """Runs `jobs` two at a time, each line appended as its run ends; returns the wall time."""
    started = time.perf_counter()
    summary = json.loads(SUMMARY_PATH.read_text()) if SUMMARY_PATH.exists() else {}
    session = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "runs": 0,
        "seconds": 0.0,
        **git_state(),
    }
    summary.setdefault("sessions", []).append(session)
    path.parent.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        for row in pool.imap_unordered(_run_star, [(job, rates) for job in jobs]):
            with path.open("a") as out:
                out.write(json.dumps(row) + "\n")
            session["runs"] += 1
            session["seconds"] = round(time.perf_counter() - started, 1)
            SUMMARY_PATH.write_text(json.dumps(summary, indent=1) + "\n")
            print(
                f"[{time.strftime('%H:%M:%S')}] {session['runs']}/{len(jobs)} "
                f"{row['method']}{' + clreg' if row['clreg'] else ''} {row['task']} "
                f"seed {row['seed']}: {row['status']} in {row['seconds']:.0f} s "
                f"{short(row)}",
                flush=True,
            )
    return time.perf_counter() - started


def short(row: dict) -> str:
    if row.get("status") != "finished":
        return row.get("reason", "")[:200]
    rel = row["relearning"]
    return (
        f"parity {row['parity'].get('stopped_because')} (kept {row['parity'].get('kept_step')}), "
        f"forget {fmt(row['after'].get('forget_accuracy'))}, "
        f"retain {fmt(row['after'].get('retain_accuracy'))}, "
        f"own {fmt(rel['same_lora']['end'])}, fresh {fmt(rel['fresh_lora']['end'])}, "
        f"ref {fmt(rel['reference']['end'])}, "
        f"membership {fmt(row['after'].get('membership_probe'))}"
    )


def fmt(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


# --- the reading ------------------------------------------------------------------------


def differs(a: list, b: list, margin: float = 0.0) -> str | None:
    """'higher' when every value of `a` exceeds every value of `b` by more than `margin`,
    'lower' for the reverse, None when the two sets overlap (or either has under 2 values):
    no difference beyond the seed spread."""
    a = [v for v in a if v is not None]
    b = [v for v in b if v is not None]
    if len(a) < 2 or len(b) < 2:
        return None
    if min(a) - max(b) > margin:
        return "higher"
    if min(b) - max(a) > margin:
        return "lower"
    return None


def cell(rows: list[dict], method: str, clreg: bool, task: str) -> list[dict]:
    """The finished runs of one method, with or without CLReg, on one task, by seed."""
    mine = [
        r
        for r in rows
        if r["method"] == method
        and bool(r["clreg"]) == clreg
        and r["task"] == task
        and r.get("status") == "finished"
    ]
    return sorted(mine, key=lambda r: r["seed"])


def values(rows: list[dict], field: str) -> list:
    """One field of each run: 'after.x', 'before.x', 'gold.x', 'own', 'fresh', 'reference',
    'recovered' (the stronger attack's end, as the check's verdict reads it)."""
    out = []
    for r in rows:
        rel = r.get("relearning") or {}
        if field == "own":
            out.append((rel.get("same_lora") or {}).get("end"))
        elif field == "fresh":
            out.append((rel.get("fresh_lora") or {}).get("end"))
        elif field == "reference":
            out.append((rel.get("reference") or {}).get("end"))
        elif field == "recovered":
            ends = [(rel.get(s) or {}).get("end") for s in ("same_lora", "fresh_lora")]
            ends = [e for e in ends if e is not None]
            out.append(max(ends) if ends else None)
        else:
            side, name = field.split(".", 1)
            out.append((r.get(side) or {}).get(name))
    return out


def label(method: str, clreg: bool) -> str:
    return NAMES.get(method, method) + (" + CLReg" if clreg else "")


TABLE_HEADERS = [
    "run",
    "parity reached (seeds)",
    "kept step",
    "forget acc",
    "retain acc",
    "recovered, own LoRA",
    "recovered, fresh LoRA",
    "reference recovers",
    "membership after",
    "membership before",
    "membership gold",
]


def table_rows(rows: list[dict], task: str, methods=METHODS) -> list[list]:
    """The task's table: one row per method with and without CLReg, mean ± sd over seeds."""
    out = []
    for method in methods:
        for clreg in CLREG:
            mine = cell(rows, method, clreg, task)
            failed = [
                r
                for r in rows
                if key(r)[:3] == (method, clreg, task) and r.get("status") != "finished"
            ]
            reached = sum(1 for r in mine if (r.get("parity") or {}).get("reached"))
            parity_cell = f"{reached}/{len(mine)}"
            if failed:
                parity_cell += f" ({len(failed)} failed)"
            kept = ", ".join(str((r.get("parity") or {}).get("kept_step")) for r in mine)
            out.append(
                [
                    label(method, clreg),
                    parity_cell,
                    kept or "-",
                    mean_spread(values(mine, "after.forget_accuracy"), 2),
                    mean_spread(values(mine, "after.retain_accuracy"), 2),
                    mean_spread(values(mine, "own"), 2),
                    mean_spread(values(mine, "fresh"), 2),
                    mean_spread(values(mine, "reference"), 2),
                    mean_spread(values(mine, "after.membership_probe"), 2),
                    mean_spread(values(mine, "before.membership_probe"), 2),
                    mean_spread(values(mine, "gold.membership_probe"), 2),
                ]
            )
    return out


# what "CLReg vs without" compares, with the words for higher and lower
COMPARED = (
    ("after.forget_accuracy", "forget acc"),
    ("after.retain_accuracy", "retain acc"),
    ("own", "recovered, own LoRA"),
    ("fresh", "recovered, fresh LoRA"),
    ("after.membership_probe", "membership after"),
)
SAME = "no difference beyond the seed spread"


def enough(vals: list, least: int = 2) -> bool:
    return len([v for v in vals if v is not None]) >= least


def clreg_verdict(without: list[dict], with_: list[dict]) -> list[str]:
    """CLReg against the method alone: one cell per compared measure."""
    out = []
    for field, _ in COMPARED:
        a, b = values(with_, field), values(without, field)
        if not (enough(a) and enough(b)):
            out.append("n/a")
            continue
        outcome = differs(a, b)
        out.append(SAME if outcome is None else f"{outcome} with CLReg")
    return out


def reference_verdict(rows: list[dict], field: str, margin: float) -> str:
    """A method's recovery by one attack against the reference's, over the seeds."""
    mine, reference = values(rows, field), values(rows, "reference")
    if not (enough(mine) and enough(reference)):
        return "n/a"
    outcome = differs(mine, reference, margin)
    if outcome == "higher":
        return f"hidden: above the reference by > {margin:.2f} in every seed"
    if outcome == "lower":
        return f"below the reference by > {margin:.2f} in every seed"
    return SAME


def membership_verdict(rows: list[dict]) -> str:
    """Representation membership after unlearning against the gold model's (where there is
    one), else against the model's before: can the weights still tell who was forgotten?"""
    after = values(rows, "after.membership_probe")
    against, name = values(rows, "gold.membership_probe"), "gold"
    if not enough(against):
        against, name = values(rows, "before.membership_probe"), "before"
    if not (enough(after) and enough(against)):
        return "n/a"
    outcome = differs(after, against)
    return SAME + f" ({name})" if outcome is None else f"{outcome} than {name}"


CLREG_HEADERS = ["method: CLReg vs without", *(name for _, name in COMPARED)]
REFERENCE_HEADERS = [
    "run",
    "own LoRA vs reference",
    "fresh LoRA vs reference",
    "membership after vs gold (before where no gold)",
]


def clreg_rows(rows: list[dict], task: str, methods=METHODS) -> list[list]:
    return [
        [NAMES[m], *clreg_verdict(cell(rows, m, False, task), cell(rows, m, True, task))]
        for m in methods
    ]


def reference_rows(rows: list[dict], task: str, margin: float, methods=METHODS) -> list[list]:
    out = []
    for method in methods:
        for clreg in CLREG:
            mine = cell(rows, method, clreg, task)
            out.append(
                [
                    label(method, clreg),
                    reference_verdict(mine, "own", margin),
                    reference_verdict(mine, "fresh", margin),
                    membership_verdict(mine),
                ]
            )
    return out


def off_parity(rows: list[dict]) -> list[dict]:
    return [
        r
        for r in rows
        if r.get("status") != "finished" or not (r.get("parity") or {}).get("reached")
    ]


def off_parity_lines(rows: list[dict]) -> list[str]:
    out = []
    for r in sorted(off_parity(rows), key=key):
        name = f"{label(r['method'], r['clreg'])}, {r['task']}, seed {r['seed']}"
        if r.get("status") != "finished":
            out.append(f"- {name}: {r.get('status')} ({r.get('reason', '')[:160]})")
            continue
        parity = r.get("parity") or {}
        out.append(
            f"- {name}: {parity.get('stopped_because')} after {parity.get('trained_steps')} "
            f"steps, kept step {parity.get('kept_step')}; forget acc "
            f"{fmt(r['after'].get('forget_accuracy'))}, recovered own / fresh "
            f"{fmt(values([r], 'own')[0])} / {fmt(values([r], 'fresh')[0])} "
            f"(reference {fmt(values([r], 'reference')[0])})"
        )
    return out


def per_run_line(rows: list[dict]) -> str:
    """The check's own verdict per run (engine/relearning.py), at parity and not."""
    finished = [r for r in rows if r.get("status") == "finished"]

    def hidden(r: dict) -> bool:
        verdict = (r.get("relearning") or {}).get("verdict") or {}
        return str(verdict.get("reading", "")).startswith("hidden")

    at = [r for r in finished if (r.get("parity") or {}).get("reached")]
    off = [r for r in finished if not (r.get("parity") or {}).get("reached")]
    return (
        f"by the check's own per-run verdict, {sum(map(hidden, at))} of the {len(at)} runs "
        f"that reached parity read hidden, and {sum(map(hidden, off))} of the {len(off)} "
        "that did not."
    )


def hidden_count(rows: list[dict], task: str, margin: float, methods=METHODS) -> tuple[int, int]:
    """How many of the task's rows (method x CLReg) read hidden by the stronger attack."""
    hidden = total = 0
    for method in methods:
        for clreg in CLREG:
            mine = cell(rows, method, clreg, task)
            if len(mine) < 2:
                continue
            total += 1
            hidden += differs(values(mine, "recovered"), values(mine, "reference"), margin) == (
                "higher"
            )
    return hidden, total


def start_line(rows: list[dict], task: str) -> str:
    """Recall of the held-out half before any attack step (the curves' starts), beside the
    ends the table shows."""
    mine = [r for r in rows if r["task"] == task and r.get("status") == "finished"]

    def starts(side: str) -> list:
        return [((r.get("relearning") or {}).get(side) or {}).get("start") for r in mine]

    return (
        "Recall of the held-out half before the attack (every run of the task): unlearned "
        f"{mean_spread(starts('same_lora'), 2)}, reference {mean_spread(starts('reference'), 2)} "
        "(then after its 20 steps as in the table)."
    )


def section(rows: list[dict], meta: dict, rates: dict, margin: float) -> str:
    finished = [r for r in rows if r.get("status") == "finished"]
    membership_missing = not any(r["after"].get("membership_probe") is not None for r in finished)
    body = [
        f"## {TITLE}",
        "",
        provenance(meta, COMMAND)
        + f"{len(finished)} of {len(rows)} runs finished (code at {meta.get('commit', '?')}). "
        "Raw rows in `benchmarks/results/depth.jsonl` (one per run, with the relearning "
        "curves), summary in `benchmarks/results/depth.json`.",
        "",
        "Each run unlearns with the embedded model's defaults (`default_config`), stopped by "
        "the parity rule, then runs the relearning check: 20 steps of fine-tuning on half the "
        "forget facts, recall of the other half on the run's own LoRA and on a fresh LoRA over "
        "the merged weights. The reference is a model that never learned them, attacked the "
        "same way: the gold model (retrained without forget10) on forget10; on untuned15, "
        "which has no gold model, the original model attacked on never-seen (holdout) people. "
        "Learning rates: NPO the app's default "
        f"({meta.get('npo_learning_rate', '?')}); the app has no per-method defaults yet, so "
        + ", ".join(f"{NAMES[m]} {rates[m]:g}" for m in TUNED_METHODS)
        + " are the rates tuned for parity in `benchmarks/results/claims_tuning-parity.json` "
        "(base method alone, forget05). With CLReg every setting is the method's own. "
        "Membership is the forget-vs-holdout linear probe at the CLReg feature layer, "
        "cross-validated by person (balanced accuracy; 0.5 = the weights cannot tell who was "
        "forgotten; read against gold's, not against 0.5).",
    ]
    if membership_missing:
        body += [
            "",
            "The membership probe was not in the reports of these runs: its columns read n/a.",
        ]
    for task in TASKS:
        hidden, total = hidden_count(rows, task, margin)
        body += [
            "",
            f"### {task} (mean ± sd over seeds {', '.join(map(str, SEEDS))})",
            "",
            table(TABLE_HEADERS, table_rows(rows, task)),
            "",
            f"Hidden by the stronger attack (every seed beyond the reference by > {margin:.2f}): "
            f"{hidden} of {total} rows. " + start_line(rows, task),
            "",
            table(CLREG_HEADERS, clreg_rows(rows, task)),
            "",
            table(REFERENCE_HEADERS, reference_rows(rows, task, margin)),
        ]
    missed = off_parity_lines(rows)
    body += [
        "",
        "### How the verdicts are read",
        "",
        "A difference counts only when the two sets of seed values do not overlap: every value "
        "of one beyond every value of the other (3 seeds a side: sets from one distribution "
        "fail to overlap by chance 2 times in 20). Against the reference the gap must also "
        f"exceed {margin:.2f} (engine/relearning.py's SAME_AS_REFERENCE, what ~100 held-out "
        "answers can tell apart): hidden when the lowest seed's recovery minus the highest "
        f"seed's reference recovery is above {margin:.2f}. Everything else: {SAME}.",
        "",
        "### Runs that did not reach parity",
        "",
    ]
    if missed:
        body += [
            "A run that does not reach the parity band keeps the state closest to it (the "
            "kept step): at the step ceiling, short of parity, where forget facts still "
            "answered were never removed and count as recovered before any attack (the "
            "curves' start); past parity (at its last check the forget items looked less "
            "familiar than never-seen ones, membership AUC below the band), at the check "
            "closest to it. Either way it is not at equal forgetting with its partner, so a "
            "CLReg-vs-without difference in forget or retain accuracy there says where the "
            "rule stopped as much as what CLReg does. The gone-or-hidden reading does not "
            "hinge on them: "
            + per_run_line(rows)
            + " Their rows stay in the means and verdicts above; these are they:",
            "",
            *missed,
        ]
    else:
        body.append("Every finished run reached parity.")
    return "\n".join(body)


def summary_of(rows: list[dict], meta: dict, rates: dict, margin: float) -> dict:
    cells = {}
    for task in TASKS:
        for method in METHODS:
            for clreg in CLREG:
                mine = cell(rows, method, clreg, task)
                cells[f"{task}|{label(method, clreg)}"] = {
                    field: values(mine, field)
                    for field in (
                        "after.forget_accuracy",
                        "after.retain_accuracy",
                        "own",
                        "fresh",
                        "reference",
                        "after.membership_probe",
                        "before.membership_probe",
                        "gold.membership_probe",
                    )
                }
    return {
        **meta,
        "learning_rates": rates,
        "reference_margin": margin,
        "cells": cells,
        "verdicts": {
            task: {
                "clreg_vs_without": [CLREG_HEADERS, *clreg_rows(rows, task)],
                "vs_reference": [REFERENCE_HEADERS, *reference_rows(rows, task, margin)],
            }
            for task in TASKS
        },
        "off_parity": [list(key(r)) for r in off_parity(rows)],
    }


def write_report(rates: dict, rows: list[dict] | None = None) -> str:
    from clreg_core.config import default_config

    rows = load_rows() if rows is None else rows
    margin = reference_margin()
    summary = json.loads(SUMMARY_PATH.read_text()) if SUMMARY_PATH.exists() else {}
    sessions = summary.get("sessions", [])
    finished = [r for r in rows if r.get("status") == "finished"]
    meta = {
        "date": max((r["finished_at"][:10] for r in rows), default=time.strftime("%Y-%m-%d")),
        "machine": describe_machine("cpu")
        + " (2 runs at once, 1 thread each, nice 10, a machine shared with other work)",
        "command": COMMAND,
        "seconds": sum(s.get("seconds", 0.0) for s in sessions),
        "sessions": sessions,
        "commit": ", ".join(dict.fromkeys(s.get("commit", "?") for s in sessions)) or "?",
        "npo_learning_rate": default_config("embedded").learning_rate,
        "run_seconds": [r.get("seconds") for r in finished],
    }
    SUMMARY_PATH.write_text(json.dumps(summary_of(rows, meta, rates, margin), indent=1) + "\n")
    body = section(rows, meta, rates, margin)
    write_section(SECTION, body)
    return body


def smoke(rates: dict) -> None:
    """One short run, printed: the script works end to end; nothing is written."""
    job = {"method": "rmu", "clreg": True, "task": "world:untuned15", "seed": 0}
    row = run_one(job, rates, {"steps": 10})
    print(json.dumps({k: v for k, v in row.items() if k != "relearning"}, indent=1))
    print(short(row))
    print(section([row], {"date": "-", "machine": "-", "seconds": 0.0}, rates, 0.15))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--report", action="store_true", help="only the section, from the rows")
    parser.add_argument("--smoke", action="store_true", help="one short run, nothing written")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    args = parser.parse_args()
    rates = tuned_rates()
    if args.smoke:
        return smoke(rates)
    if not args.report:
        jobs = pending(grid(seeds=args.seeds), load_rows())
        print(f"{len(jobs)} runs to go; rates {rates}", flush=True)
        if jobs:
            seconds = run_grid(jobs, rates, args.workers)
            print(f"grid: {seconds / 60:.1f} min", flush=True)
    print(write_report(rates))


if __name__ == "__main__":
    main()
