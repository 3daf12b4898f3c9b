"""The optimiser of the LoRA weights, safe to step on a CPU inside a ZeroGPU Space's web process.

Before every step, torch's optimisers ask CUDA whether a CUDA graph is being captured, wherever
`torch.cuda.is_available()` says True. In a ZeroGPU Space's web process `spaces` makes it say
True while no GPU is there, so with a CUDA build of torch that call fails ("CUDA driver version
is insufficient", in the project's stand-in of a Space on a CPU, torch 2.11.0), and the embedded
model, which trains on that CPU, would stop at its first step. A step of CPU tensors is never
captured in a CUDA graph, so for them the check is left out.
"""

from __future__ import annotations

import torch


def adamw(params: list[torch.nn.Parameter], learning_rate: float) -> torch.optim.AdamW:
    optimizer = torch.optim.AdamW(params, lr=learning_rate)
    if all(p.device.type == "cpu" for p in params):
        optimizer._accelerator_graph_capture_health_check = lambda: None  # see the docstring
    return optimizer
