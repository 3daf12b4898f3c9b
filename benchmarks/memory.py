"""Does the app's memory stay flat as runs come and go (issue 30, part 2)?

    python benchmarks/memory.py                 # 20 runs, each from a new API session
    python benchmarks/memory.py --runs 5

Serves `python app.py` in its own process on a loopback port, then runs `--runs` short
embedded-model runs one after another, each from a new gradio_client session (a new page, as
far as the server knows), and asks each unlearned model one free question (which puts its LoRA
into the shared slot). After each run it reads the resident memory (VmRSS) of the web process
and of its children (the fork server and a run's process, if one is still there). The goal:
after N runs, the web process's RSS within about 150 MB of its level after the first run.
Writes results/memory.json and the "Memory over runs" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.markdown import table, write_section  # noqa: E402
from benchmarks.serving import free_port, serve  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "memory.json"
GOAL_MB = 150.0
QUESTION = "Where was Riaisuv Fivane born?"


def rss_mb(pid: int) -> float:
    """Resident memory of one process (Linux /proc), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (the fork server, a run's process)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def run_form(steps: int) -> list:
    from clreg_core.app.ui_choices import ADVANCED_FIELDS, advanced_defaults

    values = dict(
        zip([n for n, _, _ in ADVANCED_FIELDS], advanced_defaults("embedded"), strict=True)
    )
    values.update(steps=steps, eval_every=max(1, steps // 3))
    return ["embedded", "", "world:forget10", "npo", True, 1.0, "", None, *values.values(),
            "steps"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    from gradio_client import Client

    started = time.time()
    port = free_port()
    server = serve(port)
    url = f"http://127.0.0.1:{port}/"
    rows = []
    try:
        idle = rss_mb(server.pid)
        for number in range(1, args.runs + 1):
            client = Client(url, verbose=False)  # a new session each time
            began = time.perf_counter()
            client.predict(*run_form(args.steps), api_name="/run")
            status = client.predict(api_name="/status")
            client.predict("embedded", "", QUESTION, "world:forget10", api_name="/ask")
            kids = children(server.pid)
            rows.append({
                "run": number,
                "status": [r["status"] for r in status["runs"]],
                "seconds": round(time.perf_counter() - began, 1),
                "web_rss_mb": round(rss_mb(server.pid), 1),
                "children_rss_mb": round(sum(rss_mb(k) for k in kids), 1),
                "children": len(kids),
                "load": round(os.getloadavg()[0], 2),
            })  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
            client.close()
    finally:
        server.terminate()
        server.wait(60)
    first, last = rows[0]["web_rss_mb"], rows[-1]["web_rss_mb"]
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} threads",
        "command": " ".join(["python", "benchmarks/memory.py", *sys.argv[1:]]),
        "seconds": round(time.time() - started),
        "steps": args.steps,
        "idle_web_rss_mb": round(idle, 1),
        "growth_after_first_mb": round(last - first, 1),
        "max_web_rss_mb": max(r["web_rss_mb"] for r in rows),
        "runs": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    write_section("memory", markdown(out))
    growth = last - first
    print(f"web RSS: idle {idle:.0f} MB, after run 1 {first:.0f} MB, after run {len(rows)} "
          f"{last:.0f} MB (growth {growth:+.0f} MB, goal <= {GOAL_MB:.0f})")  # fmt: skip


def markdown(out: dict) -> str:
    rows = out["runs"]
    growth = out["growth_after_first_mb"]
    verdict = "meets" if growth <= GOAL_MB else "misses"
    picked = [r for r in rows if r["run"] in (1, 2, 5, 10, 15, 20) or r is rows[-1]]
    body = [
        "## Memory over runs",
        "",
        f"{out['date']}, {out['machine']}; `{out['command']}` took {out['seconds'] / 60:.1f} min. "
        f"`python app.py` served on loopback; {len(rows)} embedded-model runs of {out['steps']} "
        "steps one after another, each from a new gradio_client session, each followed by one "
        "free question to its unlearned model. Resident memory (VmRSS) read after each; the "
        "machine's 1-minute load beside it. Raw figures in `benchmarks/results/memory.json`.",
        "",
        f"Web process: {out['idle_web_rss_mb']:.0f} MB before any run; growth from run 1 to run "
        f"{len(rows)}: **{growth:+.0f} MB** (goal <= {GOAL_MB:.0f} MB: {verdict}); highest "
        f"{out['max_web_rss_mb']:.0f} MB.",
        "",
        table(
            [
                "after run",
                "web process RSS (MB)",
                "its children's RSS (MB)",
                "children",
                "run + question (s)",
                "load (1 min)",
            ],
            [
                [
                    r["run"],
                    f"{r['web_rss_mb']:.0f}",
                    f"{r['children_rss_mb']:.0f}",
                    r["children"],
                    f"{r['seconds']:.1f}",
                    f"{r['load']:.2f}",
                ]
                for r in picked
            ],
        ),  # fmt: skip
    ]
    return "\n".join(body)


if __name__ == "__main__":
    main()
