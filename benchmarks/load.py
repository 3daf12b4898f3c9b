"""The app under load (issue 12): do cheap calls stay cheap while a run trains?

    python benchmarks/load.py                    # 20 clients x 10 status calls, 4 free questions
    python benchmarks/load.py --clients 5 --calls 4
    python benchmarks/load.py --idle             # the same calls with nothing training

Serves the app in a separate process on a loopback port (clients in the same process would
share its interpreter lock and time themselves), starts one default embedded run through the
API, and while it trains sends `--clients` concurrent clients, each making `--calls` status
calls (one plain POST each: status skips the queue, as the page's progress tick does), plus a
few free questions over Gradio's HTTP call API (POST, then read the event stream to its end).
Everything is bounded: a fixed number of calls, each with a timeout, and the run is stopped at
the end. Reports status latency (median, p95, max), errors, free-question latency, and the run's
training speed with and without the load (steps/s before the clients start and while they run).
Writes results/load.json and the "Load" section of BENCHMARKS.md. Goal on 2 cores: status p95
<= 300 ms, no errors.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.markdown import describe_machine, table, write_section  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CALL_TIMEOUT_S = 120.0
GOAL_P95_MS = 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_form() -> list:
    from clreg_core.app.ui_choices import ADVANCED_FIELDS, advanced_defaults

    values = dict(
        zip([n for n, _, _ in ADVANCED_FIELDS], advanced_defaults("embedded"), strict=True)
    )
    values["steps"] = 400  # long enough to train through the whole load
    return ["embedded", "", "world:forget10", "npo", True, 3.0, "", None, *values.values(), "steps"]


def steps_per_second(client, seconds: float) -> float:
    """Training speed over `seconds`, from the step counter in the run's status."""
    first = client.predict(api_name="/status")["runs"][0]["step"]
    time.sleep(seconds)
    return (client.predict(api_name="/status")["runs"][0]["step"] - first) / seconds


SERVE = "import sys, app; app.launch(port=int(sys.argv[1]), quiet=True).block_thread()"


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument(
        "--idle", action="store_true", help="no training run: the same calls on an idle app"
    )
    args = parser.parse_args()
    import subprocess

    import httpx
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while True:  # until the page answers
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the app did not start")
        time.sleep(0.5)
    trainer = Client(url, verbose=False)
    started = time.perf_counter()
    alone = None
    if not args.idle:
        trainer.predict(*run_form(), api_name="/run")
        while trainer.predict(api_name="/status")["runs"][0]["step"] < 1:  # training began
            time.sleep(0.5)
        alone = steps_per_second(trainer, 10.0)

    latencies: list[float] = []
    errors: list[str] = []
    questions: list[float] = []
    lock = threading.Lock()

    def status_client(index: int) -> None:
        http = httpx.Client(timeout=CALL_TIMEOUT_S)
        # Untimed: opens the connection and the session, as loading the page does before any
        # status call. Timing it put 20 simultaneous connects in the p95 (720 ms idle vs
        # a median of 64 ms).
        call_direct(http, url, "status", f"load-client-{index}")
        for _ in range(args.calls):
            tick = time.perf_counter()
            try:
                call_direct(http, url, "status", f"load-client-{index}")
                with lock:
                    latencies.append(time.perf_counter() - tick)
            except Exception as error:  # counted, not raised: the figure is the error count
                with lock:
                    errors.append(f"status: {type(error).__name__}: {error}"[:200])

    def question_client(index: int) -> None:
        http = httpx.Client(timeout=CALL_TIMEOUT_S)
        tick = time.perf_counter()
        try:
            question = f"Where was person {index} born?"
            call(http, url, "ask", ["embedded", "", question, "world:forget10"])
            with lock:
                questions.append(time.perf_counter() - tick)
        except Exception as error:
            with lock:
                errors.append(f"ask: {type(error).__name__}: {error}"[:200])

    threads = [threading.Thread(target=status_client, args=(i,)) for i in range(args.clients)]
    threads += [threading.Thread(target=question_client, args=(i,)) for i in range(args.questions)]
    speed_under_load: list[float] = []
    meter = threading.Thread(
        target=lambda: args.idle or speed_under_load.append(steps_per_second(trainer, 10))
    )
    load_started = time.perf_counter()
    for thread in threads:
        thread.start()
    meter.start()
    for thread in [*threads, meter]:
        thread.join(CALL_TIMEOUT_S * args.calls)
    load_seconds = time.perf_counter() - load_started
    if not args.idle:
        trainer.predict(api_name="/stop")
    server.terminate()
    server.wait(30)

    ms = [1000 * v for v in latencies]
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": describe_machine("cpu"),
        "command": " ".join(["python", "benchmarks/load.py", *sys.argv[1:]]),
        "clients": args.clients,
        "calls_per_client": args.calls,
        "questions": args.questions,
        "status_ms": {
            "median": statistics.median(ms) if ms else None,
            "p95": percentile(ms, 0.95) if ms else None,
            "max": max(ms) if ms else None,
            "count": len(ms),
        },
        "question_s": {
            "median": statistics.median(questions) if questions else None,
            "max": max(questions) if questions else None,
            "count": len(questions),
        },
        "errors": errors,
        "steps_per_s_alone": alone,
        "steps_per_s_under_load": speed_under_load[0] if speed_under_load else None,
        "load_seconds": load_seconds,
        "seconds": time.perf_counter() - started,
    }
    results = RESULTS_DIR / ("load-idle.json" if args.idle else "load.json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(out, indent=1) + "\n")
    status = out["status_ms"]
    goal = "meets" if status["p95"] is not None and status["p95"] <= GOAL_P95_MS else "misses"
    body = [
        "## Load" + (" on an idle app (no run training)" if args.idle else ""),
        "",
        f"{out['date']}, {out['machine']}; `{out['command']}` took {out['seconds']:.0f} s. "
        "The app served on loopback by its own process; "
        + ("nothing training, " if args.idle else "one default embedded run training, ")
        + f"while {args.clients} clients made {args.calls} status calls each and "
        f"{args.questions} clients asked a free question. Raw figures in "
        f"`benchmarks/results/{results.name}`.",
        "",
        table(
            ["measure", "value"],
            [
                ["status calls", status["count"]],
                ["status median", f"{status['median']:.0f} ms"],
                [f"status p95 (goal <= {GOAL_P95_MS:.0f} ms)", f"{status['p95']:.0f} ms ({goal})"],
                ["status max", f"{status['max']:.0f} ms"],
                ["errors", len(errors)],
                [
                    "free question median / max",
                    f"{out['question_s']['median']:.1f} s / {out['question_s']['max']:.1f} s"
                    if questions
                    else "n/a",
                ],
                [
                    "training steps/s alone / under load",
                    "no run (--idle)"
                    if args.idle
                    else f"{alone:.2f} / {out['steps_per_s_under_load'] or float('nan'):.2f}",
                ],
            ],
        ),
    ]
    write_section("load-idle" if args.idle else "load", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
