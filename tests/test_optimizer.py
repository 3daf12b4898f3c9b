"""A CPU step never asks CUDA, even where spaces makes torch say a GPU is there (a ZeroGPU
Space's web process, where the embedded model trains)."""

import pytest
import torch

from clreg_core.engine.optimizer import adamw


def no_gpu_here():
    raise RuntimeError("CUDA error: CUDA driver version is insufficient for CUDA runtime version")


@pytest.fixture
def zerogpu_web_process(monkeypatch):
    """torch told a GPU is there, and any question to it failing: spaces patches
    torch.cuda.is_available (torch 2.11 asks that), and torch 2.13 asks torch.accelerator."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", no_gpu_here)
    if hasattr(torch, "accelerator"):
        monkeypatch.setattr(
            torch.accelerator, "current_accelerator", lambda *a, **k: torch.device("cuda")
        )
        monkeypatch.setattr(torch.accelerator, "current_stream", lambda *a, **k: no_gpu_here())


def step(optimizer, weight) -> None:
    (weight**2).sum().backward()
    optimizer.step()


def test_the_projects_optimizer_steps_on_the_cpu(zerogpu_web_process):
    weight = torch.nn.Parameter(torch.ones(3))
    step(adamw([weight], 0.1), weight)
    assert torch.all(weight < 1)


def test_torchs_own_asks_cuda_there(zerogpu_web_process):  # why the project's exists
    weight = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(RuntimeError, match="CUDA driver"):
        step(torch.optim.AdamW([weight], lr=0.1), weight)
