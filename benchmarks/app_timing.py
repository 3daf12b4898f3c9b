"""How the app feels on this machine: the issue-4 speed targets, measured on `python app.py`.

    python benchmarks/app_timing.py                # 3 repeats
    python benchmarks/app_timing.py --repeats 1

Prints medians and writes `benchmarks/results/app_timing.json`:
- startup: from launching `python app.py` to the page answering HTTP 200 (target 15 s);
- in Debian's chromium (Playwright), on the embedded model's defaults: from the click on Run (on
  a page that has drawn its placeholder plots) to the first points drawn in the plot (target
  3 s), and to the end (the end view drawn, the downloads ready), the whole default run as a
  user sees it, evaluation included (target 60 s); and the first points again for a click made
  the moment the Run button shows, while the page still loads plotly.js; and the CPU time the
  browser itself used during the default run (it shares the machine's cores with the training);
- UI latency while a default run trains: a free question to the original model (/ask) and the
  status handler (/status), from another session through gradio_client.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import torch
from gradio_client import Client
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.markdown import table, write_section  # noqa: E402
from clreg_core.app.ui_choices import (  # noqa: E402
    advanced_defaults,
    default_config_value,
    run_choices,
)

RESULTS = ROOT / "benchmarks" / "results" / "app_timing.json"
CHROMIUM = "/usr/bin/chromium"
QUESTION = "Where was Riaisuv Fivane born?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(port: int) -> tuple[subprocess.Popen, float]:
    """Launch `python app.py` and return it with the seconds until it served the page."""
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                if response.status == 200:
                    return process, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
        if process.poll() is not None:
            raise RuntimeError("app.py exited before serving")


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(30)


def cpu_seconds(name: str) -> float:
    """CPU seconds used so far by every live process called `name` (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        comm, fields = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()
        if comm == name:
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def open_page(browser, url: str, drawn: bool):
    """A fresh tab on the app; with `drawn`, wait until the page has drawn its placeholder plots
    (plotly.js loaded), as a user sees it before reaching for Run."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    expect(page.locator("#progress")).to_contain_text("Pick a model", timeout=30_000)
    if drawn:
        for plot in ("#scatter", "#curves"):
            expect(page.locator(f"{plot} .main-svg").first).to_be_visible(timeout=30_000)
    return page


def click_to_first_points(page) -> float:
    started = time.perf_counter()
    page.locator("#run").click()
    expect(page.locator("#scatter")).to_contain_text("step 0/100", timeout=60_000)
    return time.perf_counter() - started


def browser_run(browser, url: str) -> dict:
    """Click Run on the defaults; seconds to the first plotted points and to the end. Then, in a
    second tab, the first points again for a click made the moment the Run button shows (the
    page still loading plotly.js), a run stopped once they are drawn."""
    page = open_page(browser, url, drawn=True)
    browser_cpu = cpu_seconds("chromium")
    started = time.perf_counter()
    first_plot = click_to_first_points(page)
    # The run is over for the user once the end view is drawn and the downloads are ready
    # ("finished" shows earlier, while the progress line still says it is preparing them).
    expect(page.locator("#paper")).to_contain_text("Feature entanglement", timeout=300_000)
    expect(page.locator("#progress")).not_to_contain_text("preparing", timeout=60_000)
    total = time.perf_counter() - started
    browser_cpu = cpu_seconds("chromium") - browser_cpu
    page.close()
    page = open_page(browser, url, drawn=False)
    eager = click_to_first_points(page)
    page.locator("#stop").click()
    expect(page.locator("#progress")).to_contain_text("stopped", timeout=30_000)
    page.close()
    return {
        "first_plot_seconds": first_plot,
        "run_seconds": total,
        "eager_first_plot": eager,
        "browser_cpu_seconds_during_run": browser_cpu,
    }


def latency_during_run(url: str, samples: int = 5) -> dict:
    """Start a default run in one session and time /ask and /status from another meanwhile."""
    runner, user = Client(url, verbose=False), Client(url, verbose=False)
    _, task = run_choices("embedded")
    weight = default_config_value("embedded", "clreg_weight")
    form = ["embedded", "", task, "npo", True, weight, "", None, *advanced_defaults("embedded")]
    job = runner.submit(*form, api_name="/run")  # the Run call lasts as long as the run
    while not runner.predict(api_name="/status")["text"].count("training"):
        if job.done():
            raise RuntimeError(f"the run ended before it trained: {job.status()}")
        time.sleep(0.2)
    timings = {"ask_seconds": [], "status_seconds": []}
    for _ in range(samples):
        for name, call in (
            ("ask_seconds", lambda: user.predict("embedded", "", QUESTION, api_name="/ask")),
            ("status_seconds", lambda: user.predict(api_name="/status")),
        ):
            tick = time.perf_counter()
            call()
            timings[name].append(time.perf_counter() - tick)
        time.sleep(0.5)
    still_training = "training" in runner.predict(api_name="/status")["text"]
    runner.predict(api_name="/stop")
    job.result(timeout=120)  # its end written, its place in line freed
    return {**timings, "job_was_training_throughout": still_training}


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def timings(values: list[float], target: float | None = None) -> dict:
    """A measured figure over the repeats: median, every run and, where there is one, the target."""
    out = {"median": median(values), "runs": values}
    if target is not None:
        out["target"] = target
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    startups, runs, latencies = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        for repeat in range(args.repeats):
            port = free_port()
            process, startup = start_app(port)
            startups.append(startup)
            url = f"http://127.0.0.1:{port}/"
            try:
                runs.append(browser_run(browser, url))
                latencies.append(latency_during_run(url))
            finally:
                stop_app(process)
            print(f"repeat {repeat}: startup {startup:.2f} s, {runs[-1]}", flush=True)
        browser.close()
    ask = [s for lat in latencies for s in lat["ask_seconds"]]
    status = [s for lat in latencies for s in lat["status_seconds"]]
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} threads, torch {torch.__version__}",
        "repeats": args.repeats,
        "startup_to_serving_seconds": timings(startups, target=15),
        "run_to_first_plot_seconds": timings([r["first_plot_seconds"] for r in runs], target=3),
        "run_to_first_plot_while_page_loads_seconds": timings(
            [r["eager_first_plot"] for r in runs], target=3
        ),
        "default_embedded_run_in_app_seconds": timings(
            [r["run_seconds"] for r in runs], target=60
        ),
        "browser_cpu_seconds_during_default_run": timings(
            [r["browser_cpu_seconds_during_run"] for r in runs]
        ),
        "ui_latency_during_run_seconds": {
            "ask_median": median(ask),
            "status_median": median(status),
            "ask": ask,
            "status": status,
            "job_was_training_throughout": all(x["job_was_training_throughout"] for x in latencies),
        },
    }  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        if isinstance(value, dict):
            print(f"{key}: { {k: v for k, v in value.items() if not isinstance(v, list)} }")
    print(f"wrote {RESULTS}")
    write_section("app", markdown(results))


def markdown(results: dict) -> str:
    """The BENCHMARKS.md section: the app as a user meets it, against the issue-4 targets."""
    rows = []
    for key, label in (
        ("startup_to_serving_seconds", "`python app.py` to serving"),
        ("run_to_first_plot_seconds", "Run clicked to first plotted points (chromium)"),
        (
            "run_to_first_plot_while_page_loads_seconds",
            "the same, Run clicked the moment it shows (page still loading plotly.js)",
        ),
        (
            "default_embedded_run_in_app_seconds",
            "default embedded run, click to the end view and downloads",
        ),
        (
            "browser_cpu_seconds_during_default_run",
            "chromium's CPU time during that run (same 2 cores)",
        ),
    ):
        r = results[key]
        runs = ", ".join(f"{v:.1f}" for v in r["runs"])
        target = f"{r['target']} s" if "target" in r else ""
        rows.append([label, f"{r['median']:.1f} s", target, runs])
    lat = results["ui_latency_during_run_seconds"]
    rows.append(["free question while a run trains", f"{lat['ask_median']:.2f} s", "", ""])
    rows.append(["status call while a run trains", f"{lat['status_median']:.2f} s", "", ""])
    return "\n".join(
        [
            "## The app",
            "",
            f"{results['date']}, {results['machine']}; `python benchmarks/app_timing.py`, "
            f"medians of {results['repeats']} app starts.",
            "",
            table(["what", "median", "target", "runs (s)"], rows),
        ]
    )


if __name__ == "__main__":
    main()
