"""The embedded model's work in a child process (`clreg_core.app.local_process`), for real: the
same messages as `worker.carry_out`, a lower priority than this process, and no process left
over once the generator is closed."""

import os
import time

import psutil
import torch

from clreg_core.app.local_process import CHILD_NICE, work_in_child
from clreg_core.app.worker import WorkOrder
from clreg_core.config import default_config
from clreg_core.engine.tasks import task_for_model
from clreg_core.models.registry import EMBEDDED

SMALL = dict(steps=6, eval_every=2, eval_items=16, final_eval_items=16)
ENDED_WITHIN_S = 60.0  # a bound for a busy machine, not a target


def order_for(**changes) -> WorkOrder:
    config = default_config("embedded", **{**SMALL, **changes}).with_changes(device="cpu")
    return WorkOrder((config,), task_for_model(config.task, EMBEDDED))


def pid_gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True  # ended, not yet reaped
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_a_run_in_a_child_yields_what_carry_out_yields():
    messages = list(work_in_child(order_for()))
    kinds = [m.kind for m in messages]
    for kind in ("loading", "event", "end_view", "adapter"):
        assert kind in kinds, kind
    loading = messages[kinds.index("loading")]
    assert loading.data["pid"] != os.getpid()  # computed elsewhere
    assert pid_gone(loading.data["pid"], ENDED_WITHIN_S)
    events = [m.data for m in messages if m.kind == "event"]
    assert events[-1].kind == "finished"
    assert [e.step for e in events if e.kind == "step"][-1] == SMALL["steps"]
    (adapter,) = [m.data for m in messages if m.kind == "adapter"]
    assert adapter and all(isinstance(t, torch.Tensor) for t in adapter.values())
    assert any("lora" in name for name in adapter)


def test_closing_the_generator_ends_the_child_and_it_ran_at_a_lower_priority():
    work = work_in_child(order_for(steps=2000))
    pid = None
    nice = None
    for message in work:
        if message.kind == "loading":
            pid = message.data["pid"]
            nice = psutil.Process(pid).nice()
        if message.kind == "event" and message.data.kind == "step":
            break  # training: the child is mid-run
    assert pid is not None
    assert nice == os.getpriority(os.PRIO_PROCESS, 0) + CHILD_NICE
    started = time.monotonic()
    work.close()
    assert pid_gone(pid, ENDED_WITHIN_S), "the child outlived its generator"
    assert time.monotonic() - started < ENDED_WITHIN_S
