"""The app as a ZeroGPU Space runs it: `python app.py` with SPACES_ZERO_GPU=true and the real
`spaces` package, on this CPU, against a loopback stand-in of ZeroGPU's device API.

What ZeroGPU demands, checked here: a GPU function decorated at import (the startup report);
GPU work in a forked worker, so anything unpicklable that crosses, or a page that relies on the
worker changing its objects, fails these runs; the embedded model training in the web process
without asking for a GPU; Stop ending the worker's work and releasing the GPU; a refusal
(quota) said in words that name what to try.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from space.device_api import DeviceApi

from clreg_core.app.ui_choices import ADVANCED_FIELDS, advanced_defaults
from clreg_core.models.registry import EMBEDDED_DIR

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BOUND_S = 600  # a bound for a busy 2-core machine, not a target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, what: str, timeout: float = BOUND_S):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """The app started as a Space starts it; yields (its URL, the device API, its process)."""
    folder = tmp_path_factory.mktemp("space")
    cgroup = folder / "cgroup"
    cgroup.write_text("0::/clreg-lab-test\n")
    port = free_port()
    with DeviceApi() as api:
        env = {
            **os.environ,
            "SPACES_ZERO_GPU": "true",
            "SPACES_ZERO_DEVICE_API_URL": api.url,
            "ZEROGPU_PROC_SELF_CGROUP_PATH": str(cgroup),
            "GRADIO_SERVER_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            "CLREG_MEASUREMENT_CACHE": "0",
        }
        log = open(folder / "server.log", "w")  # noqa: SIM115 (open while the server runs)
        server = subprocess.Popen(
            [sys.executable, "tests/space/run_as_space.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}/"

        def serving() -> bool:
            assert server.poll() is None, (folder / "server.log").read_text()[-3000:]
            try:
                return httpx.get(url, timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(serving, "the app to serve")
            yield url, api, server
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(60)
            log.close()


def form(model="embedded", typed="", **advanced) -> list:
    values = dict(
        zip([n for n, _, _ in ADVANCED_FIELDS], advanced_defaults("embedded"), strict=True)
    )
    values.update(advanced)
    return [model, typed, "world:forget10", "npo", True, 1.0, "", None, *values.values(), "steps"]


SMALL = dict(steps=4, eval_every=2, final_eval_items=16)


@pytest.fixture(scope="module")
def local_model(tmp_path_factory) -> str:
    """A model no registry knows: a copy of the embedded weights in a folder of its own."""
    folder = tmp_path_factory.mktemp("models") / "world-llama-copy"
    shutil.copytree(EMBEDDED_DIR, folder)
    return str(folder)


def run_through_the_page(client: Client, inputs: list) -> list:
    """Run and wait for the handler's last answer (it follows the run to its end)."""
    return client.submit(*inputs, api_name="/run").result(timeout=BOUND_S)


def test_the_startup_report_is_sent_at_launch(space):
    _, api, _ = space
    assert api.paths()[:1] == ["/startup-report"]


def test_an_embedded_run_trains_in_the_web_process_without_asking_for_a_gpu(space):
    url, api, server = space
    client = Client(url, verbose=False)
    before = len(api.calls)
    last = run_through_the_page(client, form(**SMALL))
    assert "finished" in last[0], last[0]
    assert api.paths()[before:] == []  # no GPU asked for, no quota spent
    (run,) = client.predict(api_name="/status")["runs"]
    assert run["status"] == "finished" and run["pid"] == server.pid and run["device"] == "cpu"
    assert last[3]["visible"] is not False  # the end view
    names = sorted(Path(f).name for f in last[8])
    assert names == ["npo-clreg-adapter.zip", "npo-clreg-report.json", "plots.html"]


def test_a_local_model_trains_in_a_zerogpu_worker_and_the_page_gets_everything(space, local_model):
    url, api, server = space
    client = Client(url, verbose=False)
    before = len(api.calls)
    last = run_through_the_page(client, form(typed=local_model, **SMALL))
    assert "finished" in last[0], last[0]
    calls = api.calls[before:]
    assert [c.path for c in calls] == ["/schedule", "/allow", "/release"]
    asked = int(calls[0].params["durationSeconds"])
    assert 0 < asked <= 120  # its estimate with a margin, within the default cap
    (run,) = client.predict(api_name="/status")["runs"]
    assert run["status"] == "finished" and run["pid"] not in (None, server.pid)  # the worker
    # What the page shows came back as messages: live points, the end view, the metrics...
    assert run["evaluations"] == 3 and run["metrics"]["forget_accuracy"] is not None
    assert last[3]["visible"] is not False
    names = sorted(Path(f).name for f in last[8])
    assert names == ["npo-clreg-adapter.zip", "npo-clreg-report.json", "plots.html"]
    # ...and the unlearned model, rebuilt here from the LoRA weights the worker sent, answers.
    asked = client.predict("embedded", local_model, "Where was Riaisuv Fivane born?",
                           api_name="/ask")  # fmt: skip
    answers = asked["value"]["data"]
    assert [row[0] for row in answers] == ["original", "after NPO + CLReg"]
    assert all(row[1].strip() for row in answers)
    # Gone or only hidden, asked afterwards: the kept LoRA weights go to a worker pickled, the
    # check comes back as messages, and the GPU is scheduled and released once more.
    before = len(api.calls)
    checked = client.predict(api_name="/check")
    assert "checked: " in checked[0], checked[0]
    paths = [c.path for c in api.calls[before:]]
    assert paths[0] == "/schedule" and paths[-1] == "/release"  # (its warm worker: no /allow)
    (run,) = client.predict(api_name="/status")["runs"]
    assert run["relearning"]["reference"] is not None  # the original, on never-seen people
    assert checked[12]["visible"] is not False  # the chart


def test_visitors_calling_at_once_wait_in_the_queue_and_none_is_refused(space):
    # On ZeroGPU, Gradio's queue holds 1 waiting call unless told otherwise: a visitor's Status
    # made while another's Run waited to be picked up was refused "Queue is full".
    url, _, _ = space
    clients = [Client(url, verbose=False) for _ in range(6)]
    # Probes run two at a time ("model-calls"), so four of them wait together in the queue.
    jobs = [c.submit("embedded", "", "world:forget10", api_name="/probe") for c in clients]
    status = clients[0].predict(api_name="/status")
    assert "runs" in status
    for job in jobs:
        rows = job.result(timeout=BOUND_S)["value"]["data"]
        assert rows and all(len(row) == 5 for row in rows)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_stop_ends_the_workers_training_and_releases_the_gpu(space, local_model):
    url, api, _ = space
    client = Client(url, verbose=False)
    before = len(api.of("/release"))
    # Long enough on this CPU to stop it midway, short enough to ask for less than the cap.
    long = SMALL | {"steps": 200, "eval_every": 50}
    job = client.submit(*form(typed=local_model, **long), api_name="/run")

    def training_step() -> int:
        assert not job.done(), job.result()  # an error here is the run's refusal
        runs = client.predict(api_name="/status")["runs"]
        return runs and runs[0]["step"] >= 3 and runs[0]["step"]

    wait_for(training_step, "training in the worker")
    client.predict(api_name="/stop")
    (run,) = client.predict(api_name="/status")["runs"]
    assert run["status"] == "cancelled" and "stopped by the user at step" in run["reason"]
    wait_for(lambda: len(api.of("/release")) > before, "the GPU's release")
    # The worker is idle once released: its generator ended, and with it the training job.
    ticks = cpu_ticks(run["pid"])
    time.sleep(2.0)
    assert cpu_ticks(run["pid"]) - ticks < 40  # training takes a core: ~200 ticks in 2 s
    job.result(timeout=BOUND_S)  # the Run event ends too


def test_a_refused_gpu_is_said_with_what_to_try_and_the_app_keeps_serving(space, local_model):
    url, api, _ = space
    client = Client(url, verbose=False)
    api.refusals = 1
    run_through_the_page(client, form(typed=local_model, **SMALL))
    (run,) = client.predict(api_name="/status")["runs"]
    assert run["status"] == "failed"
    assert "the GPU could not take this run" in run["reason"]
    assert "Try the embedded model" in run["reason"] and "GPU limit" in run["reason"]
    again = run_through_the_page(client, form(typed=local_model, **SMALL))
    assert "finished" in again[0], again[0]
