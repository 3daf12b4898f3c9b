"""A process-wide, first-come-first-served queue for training runs.

Two trainings on a 2-core CPU each run at less than half speed, so by default one run trains
at a time and the others wait their turn, each able to ask for its position. The number of
runs allowed at once comes from `CLREG_MAX_RUNS` (say 2 or more on a machine with a GPU).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable


class RunQueue:
    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"a run queue needs at least one slot, got {slots}")
        self.slots = slots
        self._waiting: list[int] = []  # tickets in arrival order
        self._running: set[int] = set()
        self._tickets = itertools.count(1)
        self._changed = threading.Condition()

    def join(self) -> int:
        """A ticket for a new place at the back of the queue."""
        with self._changed:
            ticket = next(self._tickets)
            self._waiting.append(ticket)
            return ticket

    def position(self, ticket: int) -> int:
        """0 while the ticket runs (or is gone), else its place among those waiting (1 = next)."""
        with self._changed:
            return self._waiting.index(ticket) + 1 if ticket in self._waiting else 0

    def wait_turn(self, ticket: int, give_up: Callable[[], bool], poll_s: float = 0.2) -> bool:
        """Block until the ticket may run (True) or `give_up()` says to leave the queue (False)."""
        while not give_up():
            if self.take_turn(ticket, poll_s):
                return True
        self.release(ticket)
        return False

    def take_turn(self, ticket: int, wait_s: float) -> bool:
        """Whether the ticket may run now, waiting up to `wait_s` for its turn; once True, the
        ticket holds a slot until `release`."""
        with self._changed:
            deadline = time.monotonic() + wait_s
            while True:
                if ticket in self._running:
                    return True
                first_free = self._waiting[: self.slots - len(self._running)]
                if ticket in first_free:
                    self._waiting.remove(ticket)
                    self._running.add(ticket)
                    self._changed.notify_all()
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)

    def release(self, ticket: int) -> None:
        with self._changed:
            self._drop(ticket)

    def _drop(self, ticket: int) -> None:
        self._running.discard(ticket)
        if ticket in self._waiting:
            self._waiting.remove(ticket)
        self._changed.notify_all()

    @property
    def waiting_count(self) -> int:
        with self._changed:
            return len(self._waiting)

    @property
    def running_count(self) -> int:
        with self._changed:
            return len(self._running)


def slots_from_environment(name: str = "CLREG_MAX_RUNS", default: int = 1) -> int:
    """A queue's slots from the environment variable `name` (at least one)."""
    try:
        return max(1, int(os.environ.get(name, str(default))))
    except ValueError:
        return default


RUN_QUEUE = RunQueue(slots_from_environment())
