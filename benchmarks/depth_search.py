"""A bounded search for deeper forgetting (issue 31, part 4): does any variant of the default run
leave no more for a relearning attack to bring back than a model that never saw the forget set?

    nohup nice -n 10 python benchmarks/depth_search.py tune > /tmp/depth_search.log 2>&1 &
    nohup nice -n 10 python benchmarks/depth_search.py held-out >> /tmp/depth_search.log 2>&1 &
    nohup nice -n 10 python benchmarks/depth_search.py attacker-check >>/tmp/depth_search.log 2>&1 &
    python benchmarks/depth_search.py write       # the BENCHMARKS.md section from the results

Every run is `default_config("embedded", task=..., seed=..., relearn_check=True, **overrides)`
stopped by the parity rule, with the relearning check after it (engine/relearning.py). The goal:
recovery (the stronger of the two attacks at the end) within 0.15 of the reference's, at
parity, with retain accuracy >= 0.95 and no degenerate forget answers.

1. `tune`: each variant's settings on world:forget05, seeds 0-1 (and today's default).
2. `held-out`: each variant's best tuning setting (at parity in every seed, retain and fluency
   kept, then the smallest gap to the reference) and today's default on world:untuned15, seeds
   0-2: 15 people no setting was tuned on.
3. `attacker-check`: the rank variant's held-out runs again, attacked with the default rank-8
   fresh LoRA (a check of the attack, not a variant: see ATTACKED).

Resumable: one JSON line per finished run in `benchmarks/results/depth_search.jsonl`; a run
already there is skipped. Two worker processes (spawned), one thread each. Quality figures, not
timings: it takes no timing lock, and its seconds are those of a shared, loaded machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.markdown import describe_machine, mean_spread, table, write_section  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "depth_search.jsonl"
TUNING_TASK, TUNING_SEEDS = "world:forget05", (0, 1)
HELD_OUT_TASK, HELD_OUT_SEEDS = "world:untuned15", (0, 1, 2)
GOAL_GAP, GOAL_RETAIN, GOAL_DEGENERATE = 0.15, 0.95, 0.10
WORKERS = 2

# variant: (what it changes, its tuning settings over the defaults). A few settings each: a
# run with its relearning check took 5-6 min on the shared 2-core machine.
VARIANTS: dict[str, tuple[str, list[dict]]] = {
    "default": ("today's default, NPO + CLReg", [{}]),
    "sam": (
        "sharpness-aware forget term (sam_rho, Fan et al. 2025)",
        # ρ is the move's length over all 164k LoRA weights; one default step moves them by
        # about lr·sqrt(n) ≈ 1.6, a relearning step by about 1.2
        [{"sam_rho": 0.5}, {"sam_rho": 2.0}, {"sam_rho": 5.0}, {"sam_rho": 10.0}],
    ),
    "blocks": (
        "CLReg at an earlier block or at several (feature_layer, clreg_blocks)",
        [{"feature_layer": -2}, {"clreg_blocks": 4}],
    ),
    "lora": (
        "higher LoRA rank, α/r kept at 2 (every projection is already adapted)",
        [{"lora_rank": 16, "lora_alpha": 32.0}, {"lora_rank": 64, "lora_alpha": 128.0}],
    ),
    "target": (
        "pull toward never-seen people's original features (holdout_target_weight)",
        [{"holdout_target_weight": 3.0}, {"holdout_target_weight": 3.0, "clreg_weight": 0.0}],
    ),
}
# A check of the attack itself, not a variant: the attack's fresh LoRA and the reference's take
# the run's LoRA shape, so a rank-64 run meets a rank-64 attacker. These rows attack the rank-64
# run (the same training) with the default rank-8 fresh LoRA instead (its own LoRA stays rank 64).
ATTACKED = {"lora, rank-8 attacker": ({"lora_rank": 8, "lora_alpha": 16.0}, "lora")}
KEPT = ("forget_accuracy", "retain_accuracy", "forget_degenerate", "mia_auc", "entanglement")


def run(task: str, seed: int, variant: str, overrides: dict) -> dict:
    """One run, in a worker process with one thread."""
    import torch

    from clreg_core.config import default_config
    from clreg_core.engine.relearning import relearning_check
    from clreg_core.engine.tasks import task_for_model
    from clreg_core.engine.training import run_unlearning
    from clreg_core.models.loading import load_model

    torch.set_num_threads(1)
    started = time.perf_counter()
    attacker = ATTACKED.get(variant, (None,))[0]
    config = default_config(
        "embedded", task=task, seed=seed, relearn_check=attacker is None, **overrides
    )
    loaded = load_model("embedded", device="cpu")
    items = task_for_model(task, loaded.spec)
    result = run_unlearning(config, task=items, loaded=loaded)
    report = result.report
    if attacker is not None and result.status == "finished":
        shape = config.with_changes(**attacker)  # the attack's and the reference's fresh LoRA
        report["relearning"] = relearning_check(result.model, loaded, shape, items)
    row = {
        "task": task,
        "seed": seed,
        "variant": variant,
        "overrides": overrides,
        "status": result.status,
        "reason": result.reason,
        "seconds": round(time.perf_counter() - started, 1),
        "date": time.strftime("%Y-%m-%d"),
    }
    if result.status != "finished":
        return row
    parity = report.get("parity", {})
    relearning = report.get("relearning", {})
    verdict = relearning.get("verdict", {})
    reference = relearning.get("reference", {}).get("curve")
    row.update(
        parity={
            k: parity.get(k) for k in ("stopped_because", "kept_step", "trained_steps", "reached")
        },
        after={k: report["metrics"]["after"].get(k) for k in KEPT},
        before={k: report["metrics"]["before"].get(k) for k in KEPT},
        same_lora=relearning.get("same_lora"),
        fresh_lora=relearning.get("fresh_lora"),
        reference_curve=reference,
        reference_model=relearning.get("reference", {}).get("model"),
        recovered=verdict.get("recovered"),
        reference=verdict.get("reference"),
        test_items=relearning.get("test_items"),
        seconds_per_step=report.get("timing", {}).get("seconds_per_step"),
    )
    return row


def key(task: str, seed: int, variant: str, overrides: dict) -> str:
    return json.dumps([task, seed, variant, overrides], sort_keys=True)


def load_rows() -> list[dict]:
    if not RESULTS.exists():
        return []
    rows = []
    for line in RESULTS.read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def run_all(jobs: list[tuple[str, int, str, dict]]) -> None:
    """Run the jobs not in the results yet, two at a time, appending each as it finishes."""
    done = {key(r["task"], r["seed"], r["variant"], r["overrides"]) for r in load_rows()}
    todo = [job for job in jobs if key(*job) not in done]
    print(
        f"{len(jobs) - len(todo)} of {len(jobs)} runs already done; {len(todo)} to go", flush=True
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run, *job): job for job in todo}
        for future in as_completed(futures):
            job = futures[future]
            try:
                row = future.result()
            except Exception as error:  # a crashed run is reported, not retried silently
                print(f"FAILED {job}: {error!r}", flush=True)
                continue
            with RESULTS.open("a") as out:
                out.write(json.dumps(row) + "\n")
            print(f"{time.strftime('%H:%M:%S')} {summary_line(row)}", flush=True)


def summary_line(row: dict) -> str:
    if row["status"] != "finished":
        return f"{row['variant']} {row['overrides']} seed {row['seed']}: {row['status']}"
    return (
        f"{row['task']} {row['variant']} {json.dumps(row['overrides'])} seed {row['seed']}: "
        f"{row['parity']['stopped_because']} ({row['parity']['kept_step']}), forget "
        f"{row['after']['forget_accuracy']:.3f}, retain {row['after']['retain_accuracy']:.3f}, "
        f"degenerate {row['after']['forget_degenerate']:.2f}, recovered {row['recovered']} vs "
        f"reference {row['reference']}, {row['seconds']:.0f} s"
    )


def tuning_jobs() -> list[tuple[str, int, str, dict]]:
    return [
        (TUNING_TASK, seed, variant, overrides)
        for variant, (_, settings) in VARIANTS.items()
        for overrides in settings
        for seed in TUNING_SEEDS
    ]


# ---------------------------------------------------------------- reading the rows


def gap(row: dict) -> float | None:
    if row.get("recovered") is None or row.get("reference") is None:
        return None
    return row["recovered"] - row["reference"]


def at_parity(row: dict) -> bool:
    """The parity band was reached (the kept state is the one closest to it): a run may stop
    at the step ceiling inside the band, or go past it and keep its state in the band. A run
    that overshot without ever being inside (forget items stranger than strangers) is not."""
    return row.get("status") == "finished" and bool(row["parity"].get("reached"))


def settings_rows(rows: list[dict], task: str) -> dict[tuple[str, str], list[dict]]:
    """Rows of one task grouped by (variant, overrides)."""
    grouped: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["task"] == task:
            grouped.setdefault((row["variant"], json.dumps(row["overrides"])), []).append(row)
    return grouped


def keeps_the_band(mine: list[dict]) -> bool:
    """At parity in every seed, with retain kept and fluent forget answers (medians)."""
    finished = [r for r in mine if r["status"] == "finished"]
    return (
        len(finished) == len(mine)
        and all(at_parity(r) for r in mine)
        and statistics.median(r["after"]["retain_accuracy"] for r in mine) >= GOAL_RETAIN
        and statistics.median(r["after"]["forget_degenerate"] for r in mine) <= GOAL_DEGENERATE
    )


def best_settings(rows: list[dict]) -> dict[str, dict]:
    """Each variant's tuning setting to carry to the held-out split: among those that keep the
    band in both tuning seeds, the smallest mean gap to the reference; if none does, the
    smallest gap of all (the held-out table then says it missed the band in tuning)."""
    grouped = settings_rows(rows, TUNING_TASK)
    best = {}
    for variant in VARIANTS:
        candidates = [
            (json.loads(s), mine) for (v, s), mine in grouped.items() if v == variant and mine
        ]
        if not candidates:
            continue
        scored = [
            (
                not keeps_the_band(mine),
                statistics.mean(g for g in map(gap, mine) if g is not None)
                if any(gap(r) is not None for r in mine)
                else float("inf"),
                overrides,
            )
            for overrides, mine in candidates
        ]
        scored.sort(key=lambda s: (s[0], s[1]))
        best[variant] = scored[0][2]
    return best


def attacker_jobs(rows: list[dict]) -> list[tuple[str, int, str, dict]]:
    best = best_settings(rows)
    return [
        (HELD_OUT_TASK, seed, name, best[variant])
        for name, (_, variant) in ATTACKED.items()
        if variant in best
        for seed in HELD_OUT_SEEDS
    ]


def held_out_jobs(rows: list[dict]) -> list[tuple[str, int, str, dict]]:
    best = best_settings(rows)
    missing = [v for v in VARIANTS if v not in best]
    if missing:
        raise SystemExit(f"no tuning results for {missing}: run `tune` first")
    return [(HELD_OUT_TASK, seed, v, best[v]) for v in VARIANTS for seed in HELD_OUT_SEEDS]


def final(curve: list | None) -> float | None:
    return curve[-1] if curve else None


STOPS = {
    "parity reached": "",
    "went past parity": " past",
    "step ceiling, parity not reached": " ceiling",
}


def kept(row: dict) -> str:
    """The kept step, marked where training did not stop on reaching the band."""
    parity = row["parity"]
    return f"{parity['kept_step']}{STOPS.get(parity['stopped_because'], ' ?')}"


def row_cells(variant: str, overrides: dict, mine: list[dict]) -> list:
    done = [r for r in mine if r["status"] == "finished"]
    gaps = [gap(r) for r in done]

    def of(k):
        return mean_spread([r["after"][k] for r in done])

    reached = sum(at_parity(r) for r in mine)
    return [
        variant,
        f"`{json.dumps(overrides)}`" if overrides else "(defaults)",
        f"{reached}/{len(mine)} ({', '.join(kept(r) for r in done)})",
        of("forget_accuracy"),
        of("retain_accuracy"),
        of("forget_degenerate"),
        mean_spread([final(r["same_lora"]) for r in done], 2),
        mean_spread([final(r["fresh_lora"]) for r in done], 2),
        mean_spread([r["reference"] for r in done], 2),
        mean_spread(gaps, 2),
        f"{statistics.mean(r['seconds'] for r in mine):.0f}",
    ]


HEADERS = [
    "variant",
    "setting",
    "at parity (kept step; past: went past the band, ceiling: stopped at `steps`)",
    "forget acc",
    "retain acc",
    "degenerate",
    "recovered, same LoRA",
    "recovered, fresh LoRA",
    "reference recovers",
    "gap to reference",
    "s a run",
]


def closeness(mine: list[dict]) -> str:
    """How close a held-out row came to the goal, in words."""
    done = [r for r in mine if r["status"] == "finished"]
    gaps = [g for g in map(gap, done) if g is not None]
    if not gaps:
        return "no relearning result"
    misses = []
    if not all(at_parity(r) for r in mine):
        misses.append(f"parity in {sum(at_parity(r) for r in mine)} of {len(mine)} seeds")
    retain = statistics.mean(r["after"]["retain_accuracy"] for r in done)
    if retain < GOAL_RETAIN:
        misses.append(f"retain {retain:.3f} < {GOAL_RETAIN}")
    degenerate = statistics.mean(r["after"]["forget_degenerate"] for r in done)
    if degenerate > GOAL_DEGENERATE:
        misses.append(f"degenerate {degenerate:.2f}")
    worst, mean = max(gaps), statistics.mean(gaps)
    within = sum(g <= GOAL_GAP for g in gaps)
    verdict = (
        f"gap {mean:.2f} on average (worst {worst:.2f}): {within} of {len(gaps)} seeds within "
        f"{GOAL_GAP}; {mean - GOAL_GAP:+.2f} from the goal on average"
    )
    return verdict + (f"; also misses: {', '.join(misses)}" if misses else "")


# What the 2026-12-07 rows say (read by hand; rerunning the grid rewrites the tables, not this).
READING = [
    "No variant reaches the goal: every one still recovers 0.6-1.0 of the held-out forget facts "
    "against the reference's 0.02-0.10.",
    "**lora** (rank 64, α 128) is the only one that moves recovery on the held-out split: gap "
    "0.60 ± 0.06 against the default's 0.93 ± 0.05, at parity in 3 of 3 seeds, retain 0.967 "
    "(one seed 0.947, under 0.95), no degenerate answers. It is not the attacker's fresh LoRA "
    "being rank 64 too: attacked with the default rank-8 fresh LoRA (row `lora, rank-8 "
    "attacker`, the same training) the gap is 0.58 ± 0.08. The stronger attack is the run's "
    "own rank-64 adapter trained further (0.62). Rank 16 did nothing (gap 0.95 on forget05).",
    "**sam** slows forgetting as much as relearning: on forget05 ρ 2-5 reached parity after "
    "40-100 steps instead of 30, and the attack's curves were still climbing at step 20 "
    "(0.52-0.96 recovered); on untuned15 ρ 5 never reached the band in 100 steps (forget "
    "accuracy 0.19-0.27, kept at the ceiling) and recovered 0.90-0.98; ρ 10 missed parity "
    "on forget05 too. ρ 0.5 changed nothing.",
    "**blocks** (block -2, or all 4 blocks) and **target** (the pull toward never-seen people, "
    "with or without the retain contrast) left recovery where the default has it (0.97-1.0 "
    "with the run's own LoRA). The pull was active: at the first step it stood at 1.28 per unit "
    "weight (chance for 16 retain negatives: ln 17 = 2.83); shaping where the answer features "
    "sit did not remove what the attack brings back.",
    "Every run that reached the band stopped at the first evaluation inside it (20-40 steps): "
    "the forget answers are suppressed just enough. On forget05 the runs that trained longer "
    "(SAM ρ 2-5) recovered less, and the one that went past the band (ρ 2 seed 0, membership "
    "AUC 0.33, stranger than strangers) least (0.52); but on untuned15 SAM trained 70-100 "
    "steps without reaching the band and still recovered 0.90-0.98: longer training alone is "
    "not depth either.",
]


def in_grid_order(grouped: dict) -> dict:
    """Rows grouped by setting, in the order VARIANTS lists them (settings no longer in the
    grid last)."""
    order = [(v, json.dumps(o)) for v, (_, settings) in VARIANTS.items() for o in [{}, *settings]]
    rank = {k: i for i, k in enumerate(order)}
    return dict(sorted(grouped.items(), key=lambda item: rank.get(item[0], len(rank))))


def write(rows: list[dict]) -> None:
    tuning = in_grid_order(settings_rows(rows, TUNING_TASK))
    held = in_grid_order(settings_rows(rows, HELD_OUT_TASK))
    tuning_table = [
        ["(tuning) " + cells[0], *cells[1:]]
        for (variant, setting), mine in tuning.items()
        for cells in [row_cells(variant, json.loads(setting), mine)]
    ]
    held_table = [row_cells(v, json.loads(s), mine) for (v, s), mine in held.items()]
    close = [
        [v, f"`{s}`" if s != "{}" else "(defaults)", closeness(m)] for (v, s), m in held.items()
    ]
    import torch

    torch.set_num_threads(1)  # as in the workers, so the machine line says what ran the rows
    dates = sorted({r.get("date", "?") for r in rows})
    seconds = sum(r["seconds"] for r in rows)
    machine = describe_machine("cpu").replace(" 1 threads", " 1 thread")
    body = [
        "## Depth: a bounded search for deeper forgetting",
        "",
        f"{', '.join(dates)}, {machine}, in each of {WORKERS} worker processes "
        f"at once, on a 2-core machine shared with other jobs (the seconds are of that load); "
        f"{len(rows)} runs, {seconds / 3600:.1f} h of run time. Raw rows in "
        '`benchmarks/results/depth_search.jsonl`. Each run: `default_config("embedded", '
        "task=..., seed=..., relearn_check=True, **setting)`, stopped by the parity rule, then "
        "the relearning check (20 steps of fine-tuning on half the forget facts, recall of the "
        "other half; `same LoRA` trains the run's adapter further, `fresh LoRA` a new one on "
        "the merged weights). The reference is the original model attacked on never-seen "
        "(holdout) people (no gold model exists for these splits). Goal: recovery (the "
        f"stronger attack, at the end) within {GOAL_GAP} of the reference's, at parity, retain "
        f"accuracy >= {GOAL_RETAIN}, degenerate forget answers near 0. Mean ± sd over seeds.",
        "",
        "Variants: " + "; ".join(f"**{v}**: {what}" for v, (what, _) in VARIANTS.items()) + ".",
        "The attack's fresh LoRA and the reference's take the run's LoRA shape, so the rank "
        "variant is attacked (and its reference measured) with the same higher rank.",
        "",
        f"### Tuning: {TUNING_TASK}, seeds {', '.join(map(str, TUNING_SEEDS))}",
        "",
        table(HEADERS, tuning_table),
        "",
        f"Carried to the held-out split (best per variant: at parity in both seeds with retain "
        f">= {GOAL_RETAIN} and degenerate <= {GOAL_DEGENERATE}, then the smallest mean gap): "
        + ", ".join(f"{v} `{json.dumps(o)}`" for v, o in best_settings(rows).items())
        + ".",
        "",
        f"### Held out: {HELD_OUT_TASK}, seeds {', '.join(map(str, HELD_OUT_SEEDS))}",
        "",
        table(HEADERS, held_table) if held_table else "(not run yet)",
        "",
        "How close each came to the goal:",
        "",
        table(["variant", "setting", "against the goal"], close) if close else "(not run yet)",
        "",
        "Reading:",
        "",
        *[f"- {line}" for line in READING],
        "",
        "Commands:",
        "",
        "    nohup nice -n 10 .venv/bin/python benchmarks/depth_search.py tune "
        "> /tmp/depth_search.log 2>&1 &",
        "    nohup nice -n 10 .venv/bin/python benchmarks/depth_search.py held-out "
        ">> /tmp/depth_search.log 2>&1 &",
        "    nohup nice -n 10 .venv/bin/python benchmarks/depth_search.py attacker-check "
        ">> /tmp/depth_search.log 2>&1 &",
        "    .venv/bin/python benchmarks/depth_search.py write",
    ]
    write_section("depth_search", "\n".join(body))
    print("\n".join(body))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=("tune", "held-out", "attacker-check", "write"))
    args = parser.parse_args()
    if args.stage == "tune":
        run_all(tuning_jobs())
    elif args.stage == "held-out":
        run_all(held_out_jobs(load_rows()))
    elif args.stage == "attacker-check":
        run_all(attacker_jobs(load_rows()))
    write(load_rows())


if __name__ == "__main__":
    main()
