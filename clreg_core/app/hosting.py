"""Where this server runs a run's work, and what a run asks of a ZeroGPU visitor's GPU quota.

The embedded model (4M parameters) trains on this machine's CPU on every host: it needs no GPU,
and on ZeroGPU it then spends none of the visitor's daily quota. Its work runs on a thread of
this process (`carry_out` itself); with `CLREG_TRAIN_IN_CHILD=1` (not on ZeroGPU) in a child
process at a lower priority (`local_process.work_in_child`), which keeps free questions quick
under many clients but starves the run while they last, and makes the first points of a run
come ~2.5 s later (BENCHMARKS.md, "Load" and "The app"). Other models go to
`Hosting.gpu_work`: on a ZeroGPU Space, the `spaces.GPU` generator that app.py decorates at
import (it runs in a forked worker that holds a GPU for the call); elsewhere `worker.carry_out`
itself, on this machine's GPU if it has one, else on its CPU.

On ZeroGPU a call asks for a duration, and the visitor's quota is charged for what it asks (on
some GPUs a multiple of it), so a run asks for its estimate plus room for loading, within a cap
the host sets (`CLREG_GPU_MAX_S`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from clreg_core.app.run_queue import RUN_QUEUE, RunQueue, slots_from_environment
from clreg_core.app.worker import Message, WorkOrder, carry_out
from clreg_core.config import ConfigError, RunConfig
from clreg_core.engine.budget import Estimate, env_number
from clreg_core.errors import UserInputError

# A free visitor has a few minutes of ZeroGPU a day (the hub's docs: 2 min without an account,
# 3.5 min with a free one); 120 s leaves them a run, even charged at 1.5x on Blackwell GPUs.
DEFAULT_GPU_MAX_S = 120.0
GPU_MARGIN = 1.5  # the estimate is arithmetic, not a measurement: ask for half as much again
GPU_START_S = 15.0  # the worker's start, loading the model onto the GPU, the end view
FIRST_POINTS_PAUSE_S = 1.0  # on a shared CPU: room for the page to draw the first points


def gpu_max_seconds() -> float | None:
    """The most GPU time one ZeroGPU run may ask for (`CLREG_GPU_MAX_S`; 0 lifts the cap)."""
    return env_number("CLREG_GPU_MAX_S", DEFAULT_GPU_MAX_S)


# ZeroGPU runs wait here, not behind the CPU runs of RUN_QUEUE: ZeroGPU queues them for its GPUs
# itself, and this process only relays their messages. The cap bounds that relaying and the
# unlearned models this process keeps for free questions (`CLREG_MAX_GPU_RUNS`).
ZERO_GPU_QUEUE = RunQueue(slots_from_environment("CLREG_MAX_GPU_RUNS", 2))


def embedded_work(zero_gpu: bool) -> Callable[[WorkOrder], Iterator[Message]]:
    """Where the embedded model's runs compute: this process; with `CLREG_TRAIN_IN_CHILD=1` a
    child process (started from a fork server, which this starts if it is not running). Never
    a child on ZeroGPU, where `spaces` patches torch in this process and a fork server that
    imports app.py (as it must, see `local_process.PRELOAD`) would import `spaces` too:
    untested there."""
    if zero_gpu or os.environ.get("CLREG_TRAIN_IN_CHILD") != "1":
        return carry_out
    from clreg_core.app import local_process

    local_process.prepare()
    return local_process.work_in_child


@dataclass(frozen=True)
class Placement:
    """Where one attempt's work runs."""

    work: Callable[[WorkOrder], Iterator[Message]]
    device: str | None  # "cpu": the run is pinned to this CPU; None: its config's choice
    estimate_on: str  # "cpu" or "cuda": which rates estimate its time
    queue: RunQueue
    zero_gpu: bool  # in a ZeroGPU worker, charged to the visitor's quota
    first_points_pause_s: float = 0.0


@dataclass(frozen=True)
class Hosting:
    """How this server runs work; app.py sets it once, at import."""

    gpu_work: Callable[[WorkOrder], Iterator[Message]] = carry_out
    zero_gpu: bool = False
    # The seconds of quota ZeroGPU charges for asking `s` seconds on this Space's GPU.
    charged: Callable[[float], float] = field(default=lambda seconds: seconds)
    local_queue: RunQueue = RUN_QUEUE

    def place(self, config: RunConfig, embedded: bool) -> Placement:
        if embedded:
            work = embedded_work(self.zero_gpu)
            return Placement(work, "cpu", "cpu", self.local_queue, False, FIRST_POINTS_PAUSE_S)
        if self.zero_gpu:
            # Not resolved here: on ZeroGPU this process's torch says CUDA is available (spaces
            # patches it) though only the worker has a GPU.
            return Placement(self.gpu_work, None, "cuda", ZERO_GPU_QUEUE, True)
        from clreg_core.engine.training import resolve_device

        on = resolve_device(config.device).type
        pause = FIRST_POINTS_PAUSE_S if on == "cpu" else 0.0
        return Placement(self.gpu_work, None, on, self.local_queue, False, pause)

    def gpu_request_s(self, estimates: list[Estimate]) -> float:
        """The duration a ZeroGPU call asks for the attempt's runs: their estimate with a margin
        and the worker's start, capped; ConfigError where the estimate alone exceeds the cap."""
        cap = gpu_max_seconds()
        estimated = sum(e.seconds for e in estimates)
        needed = estimated + GPU_START_S
        if cap and needed > cap:
            raise ConfigError(
                f"this run would need about {needed:.0f} s of GPU time, more than this Space "
                f"lets one run ask for ({cap:.0f} s, CLREG_GPU_MAX_S): lower the steps or the "
                "evaluation sizes, or pick the embedded model (it trains on the CPU and uses "
                "no GPU quota)"
            )
        wanted = math.ceil(GPU_MARGIN * estimated + GPU_START_S)
        return float(min(wanted, cap) if cap else wanted)

    def quota_text(self, seconds: float) -> str:
        charged = self.charged(seconds)
        text = f"{charged:.0f} s of your daily ZeroGPU quota"
        if round(charged) != round(seconds):
            text += f" ({seconds:.0f} s on this Space's GPU, which ZeroGPU counts at more)"
        return text


def run_note(hosting: Hosting, model: str) -> str:
    """What a run of `model` may take and asks of the visitor on this host, for the page: the
    host's caps on a run, and on ZeroGPU the visitor's GPU quota it asks for."""
    from clreg_core.engine.budget import Limits

    caps = Limits.from_env().describe()
    quota = _quota_note(hosting, model) if hosting.zero_gpu else ""
    return " ".join(part for part in (quota, caps, _check_note(hosting, model)) if part)


def _check_note(hosting: Hosting, model: str) -> str:
    """What the relearning check (gone or only hidden?) of one default run of `model` is
    estimated to cost where it would run, said before anyone starts it."""
    from clreg_core.config import default_config
    from clreg_core.engine.budget import check_estimate, duration_text
    from clreg_core.engine.tasks import task_for_model
    from clreg_core.models.registry import resolve_model

    try:
        spec = resolve_model(model)
        config = default_config(spec.key)
        device = "cpu" if spec.kind == "embedded" else hosting.place(config, False).estimate_on
        task = task_for_model(config.task, spec)
        seconds = check_estimate(config, task, device or "cpu").seconds
    except UserInputError:
        return ""
    where = "a GPU" if str(device).startswith("cuda") else "this CPU"
    return (
        f"The relearning check (Gone or only hidden?) of one run of this model is estimated at "
        f"about {duration_text(seconds)} on {where}."
    )


def _quota_note(hosting: Hosting, model: str) -> str:
    from clreg_core.config import default_config
    from clreg_core.engine.budget import Limits, admit
    from clreg_core.engine.tasks import task_for_model
    from clreg_core.models.registry import resolve_model

    try:
        spec = resolve_model(model)
    except UserInputError:
        return ""
    if spec.kind == "embedded":
        return (
            "The embedded model trains on this Space's CPU: its runs use none of your ZeroGPU "
            "quota."
        )
    config = default_config(spec.key)
    try:
        task = task_for_model(config.task, spec)
        estimate = admit(config, task, Limits.from_env(), "cuda", device_here=False)
        seconds = hosting.gpu_request_s([estimate])
    except UserInputError as error:
        return f"Runs of this model go to a ZeroGPU GPU; with its default settings: {error}."
    return (
        f"Runs of this model go to a ZeroGPU GPU: with its default settings a run asks for "
        f"{hosting.quota_text(seconds)} (an A/B pair about twice that). ZeroGPU gives each "
        "visitor a few minutes a day, more when signed in. The embedded model trains on this "
        "Space's CPU and uses none."
    )
