"""The app under load (issues 12 and 30): do cheap calls and free questions stay quick while a run
trains?

    python benchmarks/load.py            # 20 clients x (10 status calls + 2 questions) x 3 rounds
    python benchmarks/load.py --clients 5 --calls 4 --asks 1 --rounds 1
    python benchmarks/load.py --idle             # the same calls with nothing training
    CLREG_TRAIN_IN_CHILD=1 python benchmarks/load.py     # the run in a child process at nice 10

Serves the app in a separate process on a loopback port (clients in the same process would
share its interpreter lock and time themselves), starts one default embedded run through the
API (followed to its end by a gradio_client job, as a page follows its run), and while it trains
sends `--clients` concurrent clients for each of `--rounds` rounds. Each client makes `--calls`
status calls (one plain POST each: status skips the queue, as the page's progress tick does)
and `--asks` free questions over Gradio's HTTP call API (POST, then read the event stream to its
end), spread among its status calls. A free question is timed from its POST to its last answer,
its wait in the model-calls line included.

Free questions are limited per caller address (`clreg_core.app.limits.ASKS`) and loopback
clients share one, so the app runs with `CLREG_BEHIND_PROXY=1` and each client names its own
public address in X-Forwarded-For (81.2.69.<n>), as a proxy would for distinct visitors.

Everything is bounded: a fixed number of calls, each with a timeout, and the run is stopped at
the end. Beside every figure stands the machine's load: the 1-minute load average before,
during (its largest value) and after each round, and how busy the CPUs were over the round
(/proc/stat). Writes results/load.json (or load-idle.json) and the "Load" section of
BENCHMARKS.md. Goal on 2 cores: status p95 <= 300 ms, free question p95 <= 2 s, no errors.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.markdown import describe_machine, table, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
CALL_TIMEOUT_S = 120.0
GOAL_STATUS_P95_MS = 300.0
GOAL_ASK_P95_S = 2.0
ROUND_PAUSE_S = 5.0  # between rounds: the last questions' line drains
SERVE = "import sys, app; app.launch(port=int(sys.argv[1]), quiet=True).block_thread()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: list[float]) -> dict:
    """Median, p95, max and count (None where nothing was measured)."""
    if not values:
        return {"median": None, "p95": None, "max": None, "count": 0}
    return {
        "median": statistics.median(values),
        "p95": percentile(values, 0.95),
        "max": max(values),
        "count": len(values),
    }


def cpu_model() -> str:
    """The CPU's model name and the vector extensions torch can use (Linux /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {key.strip(): value for key, value in pairs}
    name = " ".join(fields.get("model name", "unknown CPU").split())
    flags = set(fields.get("flags", "").split())
    vectors = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{name} ({', '.join(vectors) or 'no avx2'})"


def cpu_times() -> tuple[int, int]:
    """The machine's (busy, total) CPU ticks since boot, all cores (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class LoadMeter:
    """The machine's load over a stretch of time: the 1-minute load average at its start, its
    largest value during (sampled every second) and at its end, and the CPUs' busy share."""

    def __init__(self) -> None:
        self.before = os.getloadavg()[0]
        self.samples = [self.before]
        self._ticks = cpu_times()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(1.0):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> dict:
        self._done.set()
        self._thread.join(5)
        busy, total = cpu_times()
        ticks = max(1, total - self._ticks[1])
        return {
            "load_before": self.before,
            "load_max_during": max(self.samples),
            "load_after": os.getloadavg()[0],
            "cpu_busy": (busy - self._ticks[0]) / ticks,
        }


def load_text(load: dict) -> str:
    return (
        f"load {load['load_before']:.1f} / {load['load_max_during']:.1f} / "
        f"{load['load_after']:.1f}, CPUs {100 * load['cpu_busy']:.0f}% busy"
    )


def run_form(steps: int) -> list:
    from clreg_core.app.ui_choices import ADVANCED_FIELDS, advanced_defaults

    values = dict(
        zip([n for n, _, _ in ADVANCED_FIELDS], advanced_defaults("embedded"), strict=True)
    )
    values["steps"] = steps  # long enough to train through every round
    return ["embedded", "", "world:forget10", "npo", True, 3.0, "", None, *values.values(), "steps"]


def run_status(client) -> dict:
    runs = client.predict(api_name="/status")["runs"]
    return runs[0] if runs else {"step": 0, "status": "not started"}


def call(http, url: str, api_name: str, data: list) -> None:
    """One call through Gradio's HTTP API: post it, then read its event stream to the end."""
    posted = http.post(f"{url}gradio_api/call/{api_name}", json={"data": data})
    posted.raise_for_status()
    event_id = posted.json()["event_id"]
    with http.stream("GET", f"{url}gradio_api/call/{api_name}/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: error"):
                raise RuntimeError(f"{api_name} answered with an error")
            if line.startswith("event: complete"):
                return
    raise RuntimeError(f"{api_name}: the stream ended without a result")


def call_direct(http, url: str, api_name: str, session: str) -> None:
    """One call of an event that skips the queue (status, the progress tick): a single POST, as
    the page itself makes it."""
    posted = http.post(
        f"{url}gradio_api/run/{api_name}", json={"data": [], "session_hash": session}
    )
    posted.raise_for_status()
    if "data" not in posted.json():
        raise RuntimeError(f"{api_name} answered without data")


def client_plan(calls: int, asks: int) -> list[str]:
    """One client's calls in order: its questions spread evenly among its status calls."""
    plan = ["status"] * calls
    for number in range(asks):
        plan.insert(round((number + 1) * (calls + number + 1) / (asks + 1)), "ask")
    return plan


def one_round(url: str, args, number: int) -> dict:
    """`args.clients` clients at once, each with its own address, making its planned calls."""
    import httpx

    status_s: list[float] = []
    ask_s: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        # A distinct public address per client: free questions are limited per address.
        headers = {"X-Forwarded-For": f"81.2.69.{10 * number + index + 1}"}
        session = f"load-{number}-{index}"
        with httpx.Client(timeout=CALL_TIMEOUT_S, headers=headers) as http:
            # Untimed: opens the connection and the session, as loading the page does before
            # any status call (20 simultaneous connects would otherwise sit in the p95).
            call_direct(http, url, "status", session)
            for kind in client_plan(args.calls, args.asks):
                tick = time.perf_counter()
                try:
                    if kind == "ask":
                        question = f"Where was person {index} born?"
                        call(http, url, "ask", ["embedded", "", question, "world:forget10"])
                    else:
                        call_direct(http, url, "status", session)
                    with lock:
                        (ask_s if kind == "ask" else status_s).append(time.perf_counter() - tick)
                except Exception as error:  # counted, not raised: the figure is the count
                    with lock:
                        errors.append(f"{kind}: {type(error).__name__}: {error}"[:200])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    meter = LoadMeter()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CALL_TIMEOUT_S * (args.calls + args.asks + 1))
    seconds = time.perf_counter() - started
    return {
        "status_ms": spread([1000 * s for s in status_s]),
        "ask_s": spread(ask_s),
        "errors": errors,
        "seconds": seconds,
        **meter.stop(),
    }


def start_server(port: int) -> subprocess.Popen:
    import httpx

    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "CLREG_BEHIND_PROXY": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while True:  # until the page answers
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit("the app did not start")
        time.sleep(0.5)


def descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stop_server(server: subprocess.Popen) -> int:
    """Stop the app; the number of its child processes still alive 10 s after it ended."""
    import psutil

    children = descendants(server.pid)
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(30)
    time.sleep(10)
    return sum(1 for pid in children if psutil.pid_exists(pid))


def where_runs_train() -> str:
    if os.environ.get("CLREG_TRAIN_IN_CHILD") == "1":
        return "in a child process at a lower priority (CLREG_TRAIN_IN_CHILD=1)"
    return "on a thread of the web process (the default)"


def measure(args) -> dict:
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    load_at_start = os.getloadavg()[0]
    started = time.perf_counter()
    server = start_server(port)
    trainer = Client(url, verbose=False)
    following = None
    alone = None
    rounds = []
    try:
        if not args.idle:
            # Followed, as a page follows its run (a run nobody follows is stopped).
            following = trainer.submit(*run_form(args.steps), api_name="/run")
            deadline = time.monotonic() + 180
            while run_status(trainer)["step"] < 1:  # training began
                if time.monotonic() > deadline or following.done():
                    raise SystemExit(f"the run did not start: {run_status(trainer)}")
                time.sleep(0.5)
            alone = steps_per_second(trainer, 10.0)
        for number in range(args.rounds):
            step = None if args.idle else run_status(trainer)["step"]
            measured = one_round(url, args, number)
            if not args.idle:
                status = run_status(trainer)
                measured["steps_per_s"] = (status["step"] - step) / measured["seconds"]
                measured["run_status"] = status["status"]
            rounds.append(measured)
            time.sleep(ROUND_PAUSE_S)
        if following is not None:
            trainer.predict(api_name="/stop")
    finally:
        left = stop_server(server)
    return {
        "load_at_start": load_at_start,
        "load_at_end": os.getloadavg()[0],
        "steps_per_s_alone": alone,
        "rounds": rounds,
        "children_left": left,
        "seconds": time.perf_counter() - started,
    }


def steps_per_second(client, seconds: float) -> float:
    """Training speed over `seconds`, from the step counter in the run's status."""
    first = run_status(client)["step"]
    time.sleep(seconds)
    return (run_status(client)["step"] - first) / seconds


def median_of(rounds: list[dict], part: str, key: str) -> float | None:
    values = [r[part][key] for r in rounds if r[part][key] is not None]
    return statistics.median(values) if values else None


def verdict(value: float | None, goal: float) -> str:
    return "n/a" if value is None else ("meets" if value <= goal else "misses")


def heading_detail(idle: bool) -> str:
    if idle:
        return " on an idle app (no run training)"
    if os.environ.get("CLREG_TRAIN_IN_CHILD") == "1":
        return ", the run in a child process at a lower priority (CLREG_TRAIN_IN_CHILD=1)"
    return ""


def section(args, out: dict, results: Path) -> str:
    rounds = out["rounds"]
    rows = []
    for number, r in enumerate(rounds, start=1):
        s, a = r["status_ms"], r["ask_s"]
        speed = "" if args.idle else f"{r['steps_per_s']:.2f} ({r['run_status']})"
        rows.append(
            [
                number,
                f"{s['median']:.0f} / {s['p95']:.0f} / {s['max']:.0f}" if s["count"] else "n/a",
                f"{a['median']:.2f} / {a['p95']:.2f} / {a['max']:.2f}" if a["count"] else "n/a",
                len(r["errors"]),
                speed or "no run",
                load_text(r),
            ]
        )
    status_p95 = median_of(rounds, "status_ms", "p95")
    ask_p95 = median_of(rounds, "ask_s", "p95")
    rows.append(
        [
            "median",
            f"{median_of(rounds, 'status_ms', 'median'):.0f} / {status_p95:.0f} / "
            f"{median_of(rounds, 'status_ms', 'max'):.0f}",
            f"{median_of(rounds, 'ask_s', 'median'):.2f} / {ask_p95:.2f} / "
            f"{median_of(rounds, 'ask_s', 'max'):.2f}"
            if ask_p95 is not None
            else "n/a",
            sum(len(r["errors"]) for r in rounds),
            "" if args.idle else f"alone: {out['steps_per_s_alone']:.2f}",
            "",
        ]
    )
    training = (
        "nothing training"
        if args.idle
        else f"one default embedded run training {where_runs_train()}"
    )
    return "\n".join(
        [
            "## Load" + heading_detail(args.idle),
            "",
            f"{out['date']}, {out['machine']}; `{out['command']}` took {out['seconds']:.0f} s. "
            f"The app served on loopback by its own process, {training}, while "
            f"{args.clients} clients at once each made {args.calls} status calls and "
            f"{args.asks} free questions (/ask, timed from the POST to the answer, the wait in "
            f"line included), in {args.rounds} rounds. The app ran with CLREG_BEHIND_PROXY=1 "
            "and each client sent its own public address in X-Forwarded-For, so that the "
            "per-address limit on free questions counted each client apart. Load: the "
            "machine's 1-minute load average before / largest during / after the round, and "
            f"the CPUs' busy share over it; {out['load_at_start']:.1f} before the app started, "
            f"{out['load_at_end']:.1f} after it stopped. The app's child processes alive 10 s "
            f"after it stopped: {out['children_left']}. Raw figures in "
            f"`benchmarks/results/{results.name}`.",
            "",
            table(
                [
                    "round",
                    "status median / p95 / max (ms)",
                    "free question median / p95 / max (s)",
                    "errors",
                    "training steps/s",
                    "machine load",
                ],
                rows,
            ),
            "",
            f"Goals: status p95 <= {GOAL_STATUS_P95_MS:.0f} ms "
            f"({verdict(status_p95, GOAL_STATUS_P95_MS)}, median of the rounds' p95), free "
            f"question p95 <= {GOAL_ASK_P95_S:.0f} s ({verdict(ask_p95, GOAL_ASK_P95_S)}).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--calls", type=int, default=10, help="status calls per client")
    parser.add_argument("--asks", type=int, default=2, help="free questions per client")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=600, help="the training run's steps")
    parser.add_argument(
        "--idle", action="store_true", help="no training run: the same calls on an idle app"
    )
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{cpu_model()}, {describe_machine('cpu')}",
        "command": " ".join(["python", "benchmarks/load.py", *sys.argv[1:]]),
        "where_runs_train": None if args.idle else where_runs_train(),
        "clients": args.clients,
        "status_calls_per_client": args.calls,
        "asks_per_client": args.asks,
        **measure(args),
    }
    if os.environ.get("CLREG_TRAIN_IN_CHILD") == "1" and not args.idle:
        out["command"] = "CLREG_TRAIN_IN_CHILD=1 " + out["command"]
    name = "load-idle" if args.idle else "load"
    if os.environ.get("CLREG_TRAIN_IN_CHILD") == "1" and not args.idle:
        name = "load-in-child"
    results = RESULTS_DIR / f"{name}.json"
    body = section(args, out, results)
    print(body)
    if args.no_write:
        return
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(out, indent=1) + "\n")
    write_section(name, body)


if __name__ == "__main__":
    main()
