"""Where a run computes and what it asks of a ZeroGPU visitor (app/hosting.py)."""

import pytest
import torch

from clreg_core.app.hosting import GPU_MARGIN, GPU_START_S, Hosting, run_note
from clreg_core.app.local_process import work_in_child
from clreg_core.app.run_queue import RunQueue
from clreg_core.app.session import Session
from clreg_core.app.worker import carry_out
from clreg_core.config import ConfigError, default_config
from clreg_core.engine.budget import Estimate

ZERO = Hosting(gpu_work=lambda order: iter(()), zero_gpu=True, charged=lambda s: 1.5 * s)


def test_the_embedded_model_stays_on_this_cpu_and_others_go_to_the_gpu(monkeypatch):
    # On ZeroGPU, spaces makes this process's torch say CUDA is there; only the worker has it.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("CLREG_TRAIN_IN_CHILD", "1")
    embedded = ZERO.place(default_config("embedded"), embedded=True)
    assert (embedded.work, embedded.device, embedded.zero_gpu) == (carry_out, "cpu", False)
    # Off ZeroGPU: in this process, or where the host asks for it in a child process of this
    # machine at a lower priority than the web server.
    assert Hosting().place(default_config("embedded"), embedded=True).work is work_in_child
    monkeypatch.delenv("CLREG_TRAIN_IN_CHILD")
    assert Hosting().place(default_config("embedded"), embedded=True).work is carry_out
    other = ZERO.place(default_config("smollm2-135m"), embedded=False)
    assert other.work is ZERO.gpu_work and other.zero_gpu and other.estimate_on == "cuda"
    assert other.device is None  # "auto" is resolved in the worker, not here


def test_a_zerogpu_run_asks_for_its_estimate_with_a_margin_within_the_cap(monkeypatch):
    monkeypatch.delenv("CLREG_GPU_MAX_S", raising=False)
    runs = [Estimate(20.0, 100.0, {}), Estimate(30.0, 100.0, {})]
    assert ZERO.gpu_request_s(runs) == pytest.approx(GPU_MARGIN * 50 + GPU_START_S)
    assert ZERO.gpu_request_s([Estimate(90.0, 100.0, {})]) == 120  # the margin, capped
    with pytest.raises(ConfigError, match="CLREG_GPU_MAX_S"):
        ZERO.gpu_request_s([Estimate(200.0, 100.0, {})])
    monkeypatch.setenv("CLREG_GPU_MAX_S", "0")  # no cap
    assert ZERO.gpu_request_s([Estimate(200.0, 100.0, {})]) == GPU_MARGIN * 200 + GPU_START_S


def test_the_page_says_what_a_run_asks_of_the_visitors_quota():
    assert "1.5" not in ZERO.quota_text(60) and "90 s of your daily ZeroGPU quota" in (
        ZERO.quota_text(60)
    )  # charged at 1.5x on this Space's GPU, and said so
    assert "none of your ZeroGPU quota" in run_note(ZERO, "embedded")
    note = run_note(ZERO, "smollm2-135m")
    assert "Runs of this model go to a ZeroGPU GPU" in note and "s of your daily" in note
    assert "ZeroGPU" not in run_note(Hosting(), "smollm2-135m")  # off ZeroGPU: no quota


def test_the_page_says_what_the_relearning_check_costs_before_it_starts():
    here = run_note(Hosting(), "smollm2-135m")
    assert "relearning check (Gone or only hidden?) of one run of this model" in here
    assert "on this CPU" in here
    assert "on a GPU" in run_note(ZERO, "smollm2-135m")  # a ZeroGPU worker's
    assert "on this CPU" in run_note(ZERO, "embedded")  # the embedded model stays here


def test_the_page_shows_the_hosts_caps_on_a_run(monkeypatch):
    monkeypatch.setenv("CLREG_MAX_STEPS", "300")
    monkeypatch.setenv("CLREG_MAX_RUN_S", "600")
    note = run_note(Hosting(), "embedded")
    assert "caps on one run: 300 steps (CLREG_MAX_STEPS)" in note
    assert "an estimated 10 min (CLREG_MAX_RUN_S; a run is stopped at 20 min)" in note
    with pytest.raises(ConfigError, match="steps=400 is more than this host allows a run"):
        Session(Hosting(local_queue=RunQueue())).start(default_config("embedded", steps=400))
