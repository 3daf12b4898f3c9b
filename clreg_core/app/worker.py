"""The part of an attempt that needs the model's device: load, train, measure, embed the end view.

`carry_out(order)` is a generator of plain, picklable `Message`s. The page's process calls it
itself for the embedded model (on its CPU) and, on a ZeroGPU Space, through `spaces.GPU` in a
forked worker process, where the order arrives pickled and only what is yielded comes back. So
it shares nothing with its caller: no run state, no model, no flag. The caller fills its run
states from the messages alone, and stops the work by closing the generator (ZeroGPU passes the
close on to the worker), which cancels the job within one step.

Messages, per run of the order (an A/B pair has two): `loading` (the stage in words and the
process id), every training `event` of the engine (`clreg_core.engine.training.Event`),
`end_view` (the paper-style points, once the run finished) and `adapter` (its LoRA weights as
CPU tensors, from which the caller rebuilds the unlearned model). `alive` messages keep coming
while nothing else does (a load, a long measurement), so the caller can redraw and notice a
Stop at least every `HEARTBEAT_S`.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from clreg_core.config import RunConfig
from clreg_core.data.items import UnlearningTask
from clreg_core.engine import phase_costs
from clreg_core.errors import UserInputError, redact_paths

LOG = logging.getLogger("clreg_lab")
HEARTBEAT_S = 0.25


@dataclass(frozen=True)
class WorkOrder:
    """Everything the work needs, picklable: the runs' configs (two for A/B; their `device` is
    resolved where the work runs, so "auto" means a GPU there, if any), the task, and the GPU
    time the caller asked for (ZeroGPU's duration callable reads it)."""

    configs: tuple[RunConfig, ...]
    task: UnlearningTask
    gpu_seconds: float = 0.0
    # A pause after the first points, so that a page sharing this CPU can draw them first.
    first_points_pause_s: float = 0.0
    # The LoRA weights of finished runs, one per config: an order with them checks those runs
    # (the relearning check: gone or only hidden?) instead of training.
    check_weights: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Message:
    run: int  # which of the order's configs; -1 for `alive`
    kind: str  # loading | event | end_view | adapter | alive; checking | relearning (a check)
    data: Any = None


ALIVE = Message(-1, "alive")


def carry_out(order: WorkOrder) -> Iterator[Message]:
    """Train the order's runs one after the other, yielding what the page needs to show them.
    A run that does not finish ends the order (the second run of an A/B pair is not started)."""
    stop = threading.Event()  # this process's own: set when the caller closes the generator
    try:
        if order.check_weights:
            for index, config in enumerate(order.configs):
                yield from _one_check(order, index, config, stop)
            return
        frozen_clouds = None
        for index, config in enumerate(order.configs):
            outcome = yield from _one_run(order, index, config, frozen_clouds, stop)
            if outcome is None:
                return
            frozen_clouds = outcome
    finally:
        stop.set()


def _one_run(order: WorkOrder, index: int, config: RunConfig, frozen_clouds, stop):
    """Yields one run's messages; returns the original model's end-view cloud (for the next run
    of an A/B pair) when the run finished, else None."""
    from clreg_core.app.paper_view import paper_points
    from clreg_core.engine.evaluation import RunStopped
    from clreg_core.engine.jobs import Job
    from clreg_core.engine.lora import trainable_state
    from clreg_core.engine.training import resolve_device, weights_dtype
    from clreg_core.models.loading import load_model, loading_stage

    yield Message(index, "loading", {"stage": loading_stage(config.model), "pid": os.getpid()})
    try:
        device = resolve_device(config.device)
        dtype = weights_dtype(config, device)
        loaded = yield from _waiting(lambda: load_model(config.model, str(device), dtype))
    except Exception as error:
        yield _failed(index, error)
        return None
    job = Job(
        config, task=order.task, loaded=loaded, pause_after_first_points=order.first_points_pause_s
    ).start()
    try:
        yield from _events(job, index)
    finally:
        if job.running:  # the caller closed the generator: stop within one step
            job.cancel()
            job.wait()
    result = job.result
    if result is None or result.status != "finished":
        return None
    try:
        started, fresh = time.perf_counter(), frozen_clouds is None
        gold = None if frozen_clouds else _gold_model(loaded, config, device, dtype)
        frozen_clouds, points = yield from _waiting(
            lambda: paper_points(
                result.model, loaded, order.task, config, frozen_clouds, stop.is_set, gold
            )
        )
        if fresh:  # an A/B pair's second run reuses the first's frozen clouds: cheaper
            phase_costs.record(
                phase_costs.cost_key(config.model, str(device), config.final_eval_items),
                phase_costs.END_VIEW,
                time.perf_counter() - started,
            )
        yield Message(index, "end_view", points)
    except RunStopped:
        return None
    except Exception:  # a bug: the run stands without its end view
        LOG.exception("the end view of run %d failed", index)
    weights = {name: tensor.to("cpu") for name, tensor in trainable_state(result.model).items()}
    yield Message(index, "adapter", weights)
    return frozen_clouds


def _one_check(order: WorkOrder, index: int, config: RunConfig, stop: threading.Event):
    """Yields the relearning check of a finished run, rebuilt from its LoRA weights: `checking`
    when it starts, then `relearning` with the report's block (`{"unavailable": why}` where it
    could not be done)."""
    from clreg_core.engine.lora import attach_lora, load_trainable_state
    from clreg_core.engine.training import relearning_report, resolve_device, weights_dtype
    from clreg_core.models.loading import load_model

    yield Message(index, "checking", {"pid": os.getpid()})
    try:
        device = resolve_device(config.device)
        loaded = yield from _waiting(
            lambda: load_model(config.model, str(device), weights_dtype(config, device))
        )
        model = attach_lora(loaded.model, config)
        load_trainable_state(model, order.check_weights[index])
        block = yield from _waiting(
            lambda: relearning_report(model, loaded, config, order.task, device, stop.is_set)
        )
    except Exception as error:
        if not isinstance(error, UserInputError):
            LOG.exception("the relearning check of run %d failed", index)
        block = {"unavailable": redact_paths(f"the check could not run: {error}")}
    yield Message(index, "relearning", block)


def _gold_model(loaded, config: RunConfig, device, dtype):
    """The model's gold twin for this run's task, for the end view's gold panel; None where
    there is none or it cannot be loaded (the end view goes on without the panel)."""
    from clreg_core.models.loading import load_model

    source = loaded.spec.gold_for(config.task)
    if source is None:
        return None
    try:
        return load_model(source, str(device), dtype)
    except Exception:
        LOG.warning("the gold model %s could not be loaded for the end view", source)
        return None


def _failed(index: int, error: Exception) -> Message:
    """A run that could not start, as the engine's own `failed` event: a user's mistake in its
    own words, a bug by its type (the trace goes to this process's log)."""
    from clreg_core.engine.training import Event

    if isinstance(error, UserInputError):
        reason = str(error)
    else:
        LOG.error("a run could not start", exc_info=error)
        reason = redact_paths(f"{type(error).__name__}: {error}") + " (details in the server log)"
    return Message(index, "event", Event("failed", 0, {"reason": reason}))


def _events(job, index: int) -> Iterator[Message]:
    """The job's events as they come, and `alive` while none do, until its last event."""
    from clreg_core.engine.jobs import TERMINAL

    while True:
        try:
            event = job.events.get(timeout=HEARTBEAT_S)
        except queue.Empty:
            if not job.running and job.events.empty():
                return  # ended without a last event: the caller marks the run
            yield ALIVE
            continue
        yield Message(index, "event", event)
        if event.kind in TERMINAL:
            return


def _waiting(work: Callable[[], Any]):
    """Run `work` on a thread and yield `alive` until it is done; returns its result or raises
    its exception. A load cannot be cut short: closed meanwhile, its thread finishes unseen."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except Exception as error:  # handed to the generator's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, name="clreg-work", daemon=True)
    thread.start()
    while True:
        thread.join(HEARTBEAT_S)
        if not thread.is_alive():
            break
        yield ALIVE
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
