"""The app with Hugging Face's real `spaces` package installed, off a ZeroGPU Space: the
training goes through `spaces.GPU` and runs as everywhere else."""

import time

import pytest
import spaces

from clreg_core.app.run_queue import RunQueue
from clreg_core.app.session import Session
from clreg_core.config import default_config

pytestmark = pytest.mark.slow


def test_a_run_goes_through_spaces_gpu_and_finishes():
    decorated = []

    def gpu(function):
        decorated.append(function.__name__)
        return spaces.GPU(duration=300)(function)

    import app  # with `spaces` importable the app hands its sessions the decorator

    assert app.SESSIONS.gpu is not None
    session = Session(queue=RunQueue(), gpu=gpu)
    session.start(default_config("embedded", steps=4, eval_every=2, final_eval_items=16))
    deadline = time.monotonic() + 600  # a bound for a busy machine, not a target
    while not session.attempt.over:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    (run,) = session.runs()
    assert run.status == "finished", run.reason
    assert decorated == ["_train_all"] and len(run.evaluations) == 3
