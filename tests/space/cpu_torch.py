"""What a CPU-only torch build lacks for `spaces` to run as on a ZeroGPU Space, patched in.

`spaces` reads `torch.version.cuda` at import, calls the CUDA initialiser, and pickles
`torch.cuda._is_in_bad_fork`, which a CPU build cannot pickle; in its forked worker, binding to
a GPU and moving the packed tensors onto it have no GPU to act on, so the worker computes on the
CPU. Everything else of `spaces` stays real: its patching of torch in the web process, the
startup report, scheduling, the fork, pickled arguments and results, release.
"""

import torch


def never_in_bad_fork() -> bool:  # module-level, so spaces can pickle it
    return False


def patch_cpu_torch() -> None:
    """Call before importing `spaces`."""
    if torch.version.cuda is None:
        torch.version.cuda = "12.8"  # what a CUDA build says; spaces picks code paths by it
    if not hasattr(torch._C, "_cuda_init"):
        torch._C._cuda_init = lambda: None
    torch.cuda._is_in_bad_fork = never_in_bad_fork
    import spaces.zero.torch as zero_torch

    zero_torch.init = lambda nvidia_uuid: None  # no GPU to bind the worker to
    zero_torch.move = lambda callback=None: None  # no GPU to move the packed tensors onto
