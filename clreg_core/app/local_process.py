"""A run's CPU work in a child process of its own, at a lower priority than the web server.

On a small CPU host the embedded model's run used to train on a thread of the web process: it
shared the interpreter lock and both cores with the server's threads, and under 20 clients the
status call's p95 passed a second (`benchmarks/load.py`). `work_in_child(order)` has the contract
of `worker.carry_out` (a generator of the same picklable `Message`s; closing it stops the work)
but runs `carry_out` in a child process that lowers its own priority (`CHILD_NICE`), so the
kernel gives the web process the CPU first and the two share no lock.

Children come from a fork server (`multiprocessing`'s "forkserver"), started once (`prepare`)
and holding torch and the engine imported: a child starts in milliseconds, not the seconds a
fresh interpreter takes to import torch. The server itself never ran torch's thread pools, so
forking it is safe, where forking the web process (threads, OpenMP's pool, held locks) is not.

Ending: closing the generator sends the child a cancel; it closes its `carry_out` (which stops
the job within one step) and exits; one that does not within `CANCEL_GRACE_S` is terminated,
then killed. A child whose web process died sees its control pipe close and stops the same way.
Where no child can start (a broken fork server), the run computes in this process, as before.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Iterator
from multiprocessing import forkserver

from clreg_core.app.worker import ALIVE, HEARTBEAT_S, Message, WorkOrder, carry_out

LOG = logging.getLogger("clreg_lab")
CHILD_NICE = 10  # the kernel's weight for nice 10 is about a tenth of nice 0's
START_LIMIT_S = 120.0  # the fork server's imports on a busy CPU take seconds, not minutes
CANCEL_GRACE_S = 10.0  # a step, or the evaluation in progress, before the child is terminated
# Imported once, in the fork server, so that each child starts with them. "__main__" first:
# where the server runs as `python app.py`, a child would otherwise import app.py (and gradio)
# again before it starts. So, as for any multiprocessing program, the script that starts the
# server must guard its start with `if __name__ == "__main__":` (app.py does).
PRELOAD = [
    "__main__",
    "torch",
    "clreg_core.app.local_process",
    "clreg_core.app.paper_view",
    "clreg_core.engine.jobs",
    "clreg_core.models.loading",
]
_CONTEXT = multiprocessing.get_context("forkserver")
_prepare_lock = threading.Lock()


def prepare() -> None:
    """Start the fork server if it is not running (it imports `PRELOAD` in the background; the
    first child waits for that). Call it early, so that the first Run does not pay for it."""
    with _prepare_lock:
        _CONTEXT.set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()


def work_in_child(order: WorkOrder) -> Iterator[Message]:
    """`worker.carry_out(order)`, computed in a child process at a lower priority."""
    messages, child_end = _CONTEXT.Pipe(duplex=False)
    control_end, control = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(
        target=_child_main,
        args=(order, child_end, control_end, dict(os.environ)),
        name="clreg-run",
        daemon=True,  # the web process ending normally terminates it too
    )
    try:
        try:
            yield from _starting(child)
        except Exception:  # no process to start here (a broken fork server): compute in ours
            LOG.exception("a run's process could not start: the run computes in this process")
            yield from carry_out(order)
            return
        child_end.close()  # the child holds its own copies now: EOF here means it ended
        control_end.close()
        yield from _relay(messages, child)
    finally:
        _end(child, control)
        for end in (messages, child_end, control_end, control):
            end.close()  # a child started late (closed while starting) sees EOF and stops


def _starting(child) -> Iterator[Message]:
    """Start the child on a thread (the first start waits for the fork server's imports), with
    `alive` meanwhile, so that the caller can redraw and notice a Stop; TimeoutError past
    `START_LIMIT_S`."""
    failed: list[BaseException] = []

    def start() -> None:
        try:
            prepare()
            child.start()
        except BaseException as error:  # handed to the generator's thread below
            failed.append(error)

    thread = threading.Thread(target=start, name="clreg-child-start", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_LIMIT_S
    while thread.is_alive():
        thread.join(HEARTBEAT_S)
        if thread.is_alive():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no process started within {START_LIMIT_S:.0f} s")
            yield ALIVE
    if failed:
        raise failed[0]


def _relay(messages, child) -> Iterator[Message]:
    """The child's messages as they come, `alive` while none do, until it says it is done."""
    while True:
        if not messages.poll(HEARTBEAT_S):
            if not child.is_alive() and not messages.poll(0):
                return  # ended without a word (killed): the caller marks its runs
            yield ALIVE
            continue
        try:
            kind, payload = pickle.loads(messages.recv_bytes())
        except EOFError:
            return
        if kind == "done":
            return
        if kind == "raised":
            raise payload
        yield payload


def _end(child, control) -> None:
    """Stop the child if it still runs: a cancel, then terminate, then kill; never left over."""
    if child.pid is None:
        return  # never started
    if child.is_alive():
        with contextlib.suppress(OSError):  # it may have ended meanwhile
            control.send_bytes(b"cancel")
    child.join(CANCEL_GRACE_S)
    if child.is_alive():
        LOG.warning("a run's process did not stop within %.0f s: terminated", CANCEL_GRACE_S)
        child.terminate()
        child.join(5)
    if child.is_alive():
        child.kill()
        child.join()
    child.close()


def child_nice() -> int:
    """How much lower the run's process is (`CLREG_TRAIN_NICE`, 0-19; default `CHILD_NICE`)."""
    try:
        return min(19, max(0, int(os.environ.get("CLREG_TRAIN_NICE", CHILD_NICE))))
    except ValueError:
        return CHILD_NICE


def _child_main(order: WorkOrder, messages, control, environment: dict[str, str]) -> None:
    """The child: lower its priority, run the order, send each message pickled; stop when the
    web process cancels or goes away."""
    # The web process's settings now (cache folders, CLREG_*), not the fork server's at its start.
    os.environ.clear()
    os.environ.update(environment)
    os.nice(child_nice())
    cancelled = threading.Event()
    threading.Thread(target=_listen, args=(control, cancelled), daemon=True).start()
    work = carry_out(order)
    try:
        for message in work:
            messages.send_bytes(pickle.dumps(("message", message)))
            if cancelled.is_set():
                return  # carry_out yields at least every HEARTBEAT_S: a cancel lands that soon
        messages.send_bytes(pickle.dumps(("done", None)))
    except (BrokenPipeError, ConnectionResetError):
        return  # the web process went away
    except Exception as error:  # the caller raises it, as it would have raised in its process
        messages.send_bytes(_raised(error))
    finally:
        work.close()  # stops the job within one step


def _listen(control, cancelled: threading.Event) -> None:
    """Wait for a cancel; the control pipe closing (the web process died) counts as one."""
    with contextlib.suppress(EOFError, OSError):
        control.recv_bytes()
    cancelled.set()


def _raised(error: Exception) -> bytes:
    try:
        return pickle.dumps(("raised", error))
    except Exception:  # an exception that does not pickle: its type and words
        return pickle.dumps(("raised", RuntimeError(f"{type(error).__name__}: {error}")))
