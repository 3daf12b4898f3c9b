"""A ZeroGPU worker is a fork of the page's process, taken whenever a visitor's run needs a GPU:
whatever lock a thread of the page holds at that moment, the worker must not inherit held."""

import os
import threading

from clreg_core.models import loading


def test_a_forked_worker_can_load_while_the_page_holds_the_load_lock():
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with loading._LOADING:  # a free question loading a model, say
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(60)
    pid = os.fork()
    if pid == 0:  # the worker: it loads its run's model under the same lock
        os._exit(0 if loading._LOADING.acquire(timeout=5) else 1)
    _, status = os.waitpid(pid, 0)
    release.set()
    holder.join()
    assert os.waitstatus_to_exitcode(status) == 0
