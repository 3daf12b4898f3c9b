"""Does the embedded model gain from a ZeroGPU round trip? Its default run, timed on this CPU in
the web process (as the app runs it on every host) and through the real `spaces` GPU path.

    python benchmarks/zerogpu_roundtrip.py            # 3 rounds, alternating
    python benchmarks/zerogpu_roundtrip.py --rounds 1

One process, SPACES_ZERO_GPU=true, against the project's loopback stand-in of the device API
(`tests/space/`): the same `worker.carry_out` run either directly or through `spaces.GPU`
(schedule, a forked worker, the order pickled in and every message pickled out, release), in
alternating order. The worker computes on this CPU too (no GPU here), so the difference is the
round trip's own cost: what a GPU would have to win back before it helps. Prints medians and
writes `benchmarks/results/zerogpu_roundtrip.json` and a BENCHMARKS.md section.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "zerogpu_roundtrip.json"
COMMAND = "python benchmarks/zerogpu_roundtrip.py"


def timed(messages) -> dict:
    """Seconds to the first live points and to the last message of one run."""
    started = time.perf_counter()
    first_points = None
    kinds = []
    for message in messages:
        kinds.append(message.kind)
        if first_points is None and message.kind == "event" and message.data.kind == "evaluation":
            first_points = time.perf_counter() - started
    assert "adapter" in kinds, kinds  # the run finished and its weights came back
    return {"first_points_s": first_points, "total_s": time.perf_counter() - started}


def inner(rounds: int) -> dict:
    """Runs in a process of its own, where spaces is on (it patches torch at import)."""
    sys.path.insert(0, str(ROOT / "tests" / "space"))
    from cpu_torch import patch_cpu_torch

    patch_cpu_torch()
    import spaces

    # what the app imports while it starts (session.warm_up), so the fork inherits it
    import clreg_core.app.paper_view  # noqa: F401
    import clreg_core.engine.jobs  # noqa: F401
    from clreg_core.app.worker import WorkOrder, carry_out
    from clreg_core.config import default_config
    from clreg_core.engine.tasks import task_for_model
    from clreg_core.models.registry import EMBEDDED

    config = default_config("embedded")
    task = task_for_model(config.task, EMBEDDED)
    here = WorkOrder((config.with_changes(device="cpu"),), task)
    # "auto" is resolved in the worker, whose torch spaces un-patches: the CPU here
    there = WorkOrder((config,), task, gpu_seconds=120)
    through_gpu = spaces.GPU(duration=lambda order: order.gpu_seconds)(carry_out)
    figures = {"first_call": timed(through_gpu(there)), "in_process": [], "zerogpu": []}
    for number in range(rounds):
        order = ("in_process", "zerogpu") if number % 2 == 0 else ("zerogpu", "in_process")
        for where in order:
            run = carry_out(here) if where == "in_process" else through_gpu(there)
            figures[where].append(timed(run))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner(args.rounds)))
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from space.device_api import DeviceApi

    from benchmarks.markdown import describe_machine, table, write_section

    started = time.perf_counter()
    with DeviceApi() as api, tempfile.TemporaryDirectory() as folder:
        cgroup = Path(folder) / "cgroup"
        cgroup.write_text("0::/clreg-lab-benchmark\n")
        env = {
            **os.environ,
            "SPACES_ZERO_GPU": "true",
            "SPACES_ZERO_DEVICE_API_URL": api.url,
            "ZEROGPU_PROC_SELF_CGROUP_PATH": str(cgroup),
            "CLREG_MEASUREMENT_CACHE": "0",
        }
        done = subprocess.run(
            [sys.executable, __file__, "--inner", "--rounds", str(args.rounds)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode:
            sys.exit(done.stderr[-3000:])
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        calls = api.paths()
    median = {
        where: {k: statistics.median(r[k] for r in figures[where]) for k in figures[where][0]}
        for where in ("in_process", "zerogpu")
    }
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": describe_machine("cpu"),
        "command": COMMAND + (f" --rounds {args.rounds}" if args.rounds != 3 else ""),
        "seconds": time.perf_counter() - started,
        "figures": figures,
        "medians": median,
        "device_api_calls": {path: calls.count(path) for path in sorted(set(calls))},
    }
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    rows = []
    for where, m in median.items():
        totals = [r["total_s"] for r in figures[where]]
        whole = f"{m['total_s']:.2f} s ({min(totals):.2f}-{max(totals):.2f})"
        rows.append([where.replace("_", " "), f"{m['first_points_s']:.2f} s", whole])
    first = figures["first_call"]
    rows.append(
        ["zerogpu, first call (forks the worker)", f"{first['first_points_s']:.2f} s",
         f"{first['total_s']:.2f} s"]
    )  # fmt: skip
    extra = median["zerogpu"]["total_s"] - median["in_process"]["total_s"]
    body = [
        "## The embedded model in the web process vs a ZeroGPU round trip",
        "",
        f"{out['date']}, {out['machine']}; `{out['command']}` took {out['seconds'] / 60:.1f} "
        "min. The default embedded run (NPO + CLReg, stop at parity), alternating between "
        "`worker.carry_out` in this process and the same call through the real `spaces.GPU` "
        "(SPACES_ZERO_GPU=true, the project's stand-in device API, a forked worker computing on "
        f"this CPU). Medians of {args.rounds} runs each:",
        "",
        table(["where", "first live points", "whole run (range)"], rows),
        "",
        f"Once the worker exists the round trip changes a run by {extra:+.2f} s here (the "
        "ranges show this machine's run-to-run noise), before any GPU time: scheduling on "
        "loopback, pickling the order and every message, and the worker's load of the model; "
        "the first call also forks the worker. "
        "A real Space adds a network schedule, a queue when GPUs are busy, and moving the model "
        "onto the GPU, and charges the visitor's quota. What a GPU could win back: an NPO + "
        "CLReg step of this model took 72.6 ms on an H200 and 184.0 ms on a 2-core CPU "
        '("Speed and memory" above and its GPU twin: other runs, other machines), about 7 s '
        "over a default run's 60-70 steps. So a GPU that is free at once might end a default "
        "run some seconds sooner; the embedded model stays on the CPU because there it costs no "
        "quota and never waits in ZeroGPU's queue, not because it is faster.",
    ]
    write_section("zerogpu-roundtrip", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
