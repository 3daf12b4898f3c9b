"""Data-parallel runs: several processes share each step's batch (`accelerate launch`).

    accelerate launch --multi_gpu --num_processes 2 -m clreg_core run ...             # 2 GPUs
    accelerate launch --multi_gpu --num_processes 2 -m clreg_core run --device cpu ...  # 2 CPUs

(On a CPU, `--multi_gpu` is what starts several processes: accelerate 1.x's `--cpu` starts one
unless given an MPI host file.)

`accelerate launch` (torchrun underneath) starts the processes and sets WORLD_SIZE / RANK;
accelerate's `PartialState` joins them (NCCL on GPUs, gloo on CPUs). A run started without it is
one process and imports nothing from here but `Processes.single()`.

What each process does (every choice here is tested in tests/test_distributed.py):
- All draw the same global forget and retain batch (same seed) and each trains on its own
  contiguous share of the rows, so a batch size must divide by the number of processes.
- The LoRA gradients are averaged over processes after backward: every per-row loss term is a
  mean over rows, so the average of equal shares' means is the global batch's mean.
- CLReg's contrastive term sees every process's rows: the features are gathered *with* gradient
  (torch.distributed.nn.all_gather), so each process computes the term on the global batch, as
  one process would. Its backward sums each row's gradient from every process's copy of the
  term; averaging over processes then leaves exactly one copy's gradient.
- The logged loss terms are averaged over processes, so the curve is the global batch's.
- Only the main process runs the live evaluations, decides on parity, prints, runs the final
  assessment and writes the run folder; the others follow its decisions (broadcast each step),
  keep the same LoRA state and return without a report of their own.
- A stop request (Ctrl+C) on any process stops all of them after the same step.

Sharded (FSDP), for a model whose weights do not fit one device:

    accelerate launch --use_fsdp --num_processes 2 -m clreg_core run --model <1-8B model> ...

accelerate's launcher (or an `accelerate config` file with FSDP) sets ACCELERATE_USE_FSDP; the
run then shards the model with torch's `fully_shard` (FSDP2), one unit per decoder block and
one for the rest, which is the wrapping accelerate's FSDP2 applies to a transformer; accelerate's
other FSDP options are not read. The base weights are loaded on the CPU and only each process's
shard goes to its device; the LoRA weights are sharded and trained, the base stays frozen, and
the reference pass still comes from peft's `disable_adapter()` (the same shards, adapter off).
Each process trains its share of the rows as above; FSDP averages the gradients itself.
Every forward pass needs every process's shards, so under FSDP *all* processes run the live
evaluations and the final assessment, on the same items, in step (the main one still alone
speaks, decides, measures the gold model and writes); the frozen models' disk cache is off, so
no process skips a measurement the others make. The adapter is gathered whole at the end.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import torch


def launched_processes() -> int:
    """How many processes the launcher started (1 without `accelerate launch` or torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_sharded() -> bool:
    """Whether accelerate was asked for FSDP (`--use_fsdp`, or a config file with FSDP)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("true", "1")


@dataclass
class Processes:
    rank: int = 0
    count: int = 1
    device: torch.device | None = None  # each process's device, set by the launcher
    sharded: bool = False  # FSDP: the model's weights are split over the processes
    _dist: Any = field(default=None, repr=False)

    @classmethod
    def single(cls) -> Processes:
        return cls()

    @classmethod
    def join(cls, device_choice: str) -> Processes:
        """This process's place among the launched ones; one process when none were launched."""
        if launched_processes() <= 1:
            return cls.single()
        from accelerate import PartialState  # only distributed runs pay for the import

        on_cpu = device_choice == "cpu" or not torch.cuda.is_available()
        state = PartialState(cpu=on_cpu)
        import torch.distributed as dist

        device = torch.device(state.device)
        return cls(state.process_index, state.num_processes, device, launched_sharded(), dist)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.count > 1

    @property
    def measures(self) -> bool:
        """Whether this process runs the evaluations: the main one, or every one when the
        model is sharded (each forward pass needs all the shards)."""
        return self.main or self.sharded

    def shard(self, model) -> None:
        """Split `model` (a PeftModel) over the processes with FSDP2, one unit per decoder
        block and one for the rest, moving each process's shards to its device. The root unit
        is the base model, not the peft wrapper: generation calls the base model's forward,
        which must gather the shards too."""
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        from clreg_core.engine.lora import decoder_blocks

        mesh = init_device_mesh(self._where().type, (self.count,))
        for block in decoder_blocks(model):
            fully_shard(block, mesh=mesh)
        fully_shard(model.get_base_model(), mesh=mesh)

    def full_trainable_state(self, model) -> dict[str, torch.Tensor]:
        """The trainable (LoRA) weights whole, on the CPU, on every process: a sharded one is
        gathered from every process (a collective: all must call it)."""
        from torch.distributed.tensor import DTensor

        from clreg_core.engine.lora import trainable_state

        return {
            name: (t.full_tensor() if isinstance(t, DTensor) else t).cpu()
            for name, t in trainable_state(model).items()
        }

    def share(self, rows: int) -> slice:
        """This process's contiguous share of `rows` (which the process count divides)."""
        size = rows // self.count
        return slice(self.rank * size, (self.rank + 1) * size)

    def gather_with_grad(self, local: torch.Tensor) -> torch.Tensor:
        """Every process's rows, in process order, with gradient flowing back to each owner."""
        if not self.distributed:
            return local
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(local.contiguous()))

    def gather_list(self, local: list) -> list:
        """Every process's Python values, in process order (group labels of the rows)."""
        if not self.distributed:
            return list(local)
        parts: list = [None] * self.count
        self._dist.all_gather_object(parts, list(local))
        return [value for part in parts for value in part]

    def average_gradients(self, params: list[torch.Tensor]) -> None:
        """Replace each parameter's gradient with its mean over processes (one all-reduce).
        FSDP has already averaged a sharded model's gradients in its backward."""
        if not self.distributed or self.sharded:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1).float() for g in grads])
        self._dist.all_reduce(flat)
        flat /= self.count
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).to(p.dtype)
            offset += n

    def average_terms(self, terms: dict[str, float]) -> dict[str, float]:
        """The loss terms averaged over processes (the global batch's values)."""
        if not self.distributed:
            return terms
        names = sorted(terms)
        values = torch.tensor([terms[n] for n in names], dtype=torch.float64, device=self._where())
        self._dist.all_reduce(values)
        return {n: float(v) / self.count for n, v in zip(names, values.tolist(), strict=True)}

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on any (a stop request)."""
        if not self.distributed:
            return flag
        value = torch.tensor([int(flag)], device=self._where())
        self._dist.all_reduce(value, op=self._dist.ReduceOp.MAX)
        return bool(value.item())

    def from_main(self, value: Any) -> Any:
        """The main process's `value` on every process (the others pass anything)."""
        if not self.distributed:
            return value
        box = [value if self.main else None]
        self._dist.broadcast_object_list(box, src=0)
        return box[0]

    def same_start(self, params: list[torch.Tensor]) -> None:
        """The main process's initial LoRA weights on every process."""
        if not self.distributed:
            return
        with torch.no_grad():
            for p in params:
                self._dist.broadcast(p.data, src=0)

    def close(self) -> None:
        """Leave the process group together: wait for every process (the main one writes the
        run folder last), then tear the group down."""
        if not self.distributed:
            return
        self._dist.barrier()
        self._dist.destroy_process_group()

    def exit(self, code: int) -> int:
        """End a launched process with `code` once everything is written: close the group and,
        among several processes, exit at once. Gloo's worker threads can still hold tensors
        when the interpreter shuts down, and freeing them then aborts the process ("terminate
        called without an active exception", SIGABRT; pytorch/pytorch PR 179291 describes
        it): seen in CI at the end of a finished FSDP run, after the folder was written."""
        self.close()
        if self.distributed:
            leave_now(code)
        return code

    def _where(self) -> torch.device:
        # NCCL reduces only CUDA tensors; gloo takes CPU ones
        return self.device if self.device is not None else torch.device("cpu")


def leave_now(code: int) -> None:
    """Exit with `code` without tearing the interpreter down, once logs and output are flushed
    (nothing else is left to write: the callers have written their run folder)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
