"""The unlearning run: a plain loop that calls back with events and checks a stop flag.

    result = run_unlearning(config, on_event=print, should_stop=lambda: False)

Events, in order: `started`, `evaluation` (step 0, the original model), then `step` after every
optimiser step (every loss term) and `evaluation` every `eval_every` steps (live metrics, parity
measures, and the forget/retain points projected on a basis fitted once at step 0), and last one
of `finished`, `failed` (with a reason) or `cancelled`. A `stage` event (data: `stage`, one of
STAGES) marks the start of each slow phase, so a progress bar can say what the run is doing
between steps; a `parity` event (data: the report's parity summary) says where and why training
stopped. With `stop_at="parity"` training ends at the first evaluation inside the parity band,
or once it overshoots, keeping the LoRA state closest to parity (engine/stopping.py).
Deterministic for a seed on CPU.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from clreg_core.config import ConfigError, RunConfig
from clreg_core.data.custom_text import nothing_to_forget
from clreg_core.data.guesses import guess_pool
from clreg_core.data.items import UnlearningTask
from clreg_core.engine import measurement_cache, phase_costs
from clreg_core.engine.assessment import Assessment
from clreg_core.engine.distributed import Processes
from clreg_core.engine.evaluation import Measurer, RunStopped, qa_only
from clreg_core.engine.live import LiveView
from clreg_core.engine.lora import (
    attach_lora,
    base_weights_fingerprint,
    enable_activation_checkpointing,
    load_trainable_state,
    trainable_parameter_count,
    trainable_state,
)
from clreg_core.engine.objective import Objective
from clreg_core.engine.optimizer import adamw
from clreg_core.engine.prior_knowledge import what_it_knows
from clreg_core.engine.provenance import provenance
from clreg_core.engine.report_schema import (
    final_sizes,
    gold_measured,
    gold_sizes,
    live_sizes,
    schema,
)
from clreg_core.engine.sampling import Batches
from clreg_core.engine.sharpness import sharpness_aware_backward
from clreg_core.engine.stopping import CONTINUE, REACHED, ParityStop
from clreg_core.engine.strangers import set_stranger_targets
from clreg_core.engine.tasks import task_for_model
from clreg_core.errors import UserInputError
from clreg_core.metrics.parity import final_check
from clreg_core.models.loading import LoadedModel, load_model

PROBES_PER_SIDE = 4
STAGES = ("measuring the original model", "training", "measuring the unlearned model")
RELEARN_STAGE = "checking whether it is gone or only hidden (relearning)"
FIRST_VIEW_STAGE = "measuring where the original model starts (step 0)"


@dataclass
class Event:
    kind: str  # started | step | evaluation | finished | failed | cancelled
    step: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    status: str  # finished | failed | cancelled
    config: RunConfig
    report: dict[str, Any]
    model: Any = None  # the PeftModel, for saving the adapter
    reason: str = ""
    # the LoRA weights whole, where the model's are sharded over processes (FSDP)
    adapter_state: dict | None = None


class RunFailed(Exception):
    """The run cannot go on (a non-finite loss); the message is the reason shown to the user."""


def resolve_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but no GPU is available here; use 'auto' or 'cpu'")
    return torch.device(choice)


def guess_term(config: RunConfig, task: UnlearningTask) -> str:
    """Whether the guess term trains in this run, in words for the report. It needs forget
    questions whose answers state a value it can swap (a world fact, a pack answer); elsewhere
    (own text, passages only) it is off, and the report says so: a model's default weight must
    not refuse those tasks."""
    if config.guess_weight <= 0:
        return "off (guess_weight 0)"
    if any(guess_pool(i) for i in task.forget):
        return f"on (weight {config.guess_weight:g})"
    return f"off: {task.name} has no answers with a value to guess (guess_weight ignored)"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matmuls run natively here: a GPU that supports them, or a CPU with AVX512-BF16
    or AMX. Elsewhere bf16 is emulated and slower than fp32, so `auto` keeps fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence getattr
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def computes_in_bf16(config: RunConfig, device: torch.device) -> bool:
    """bf16 when asked for, or by default where bf16 is native."""
    return config.precision == "bf16" or (config.precision == "auto" and native_bf16(device))


def precision_name(config: RunConfig, device: torch.device) -> str:
    """What a run's numbers were computed in, for caches and the report."""
    return "bf16" if computes_in_bf16(config, device) else "fp32"


def weights_dtype(config: RunConfig, device: torch.device) -> torch.dtype:
    """bf16 frozen weights for large models on a GPU (budget.weights_in_bf16), else fp32."""
    from clreg_core.engine.budget import weights_in_bf16
    from clreg_core.models.shape import model_shape

    if device.type != "cuda":  # no need to read the model's shape
        return torch.float32
    large = weights_in_bf16(config, model_shape(config.model).parameters, device.type)
    return torch.bfloat16 if large and computes_in_bf16(config, device) else torch.float32


def activation_checkpointing(config: RunConfig, model, device: torch.device) -> bool:
    """Whether this run recomputes block activations (budget.checkpoints_activations)."""
    from clreg_core.engine.budget import checkpoints_activations

    parameters = sum(p.numel() for p in model.parameters())
    return checkpoints_activations(config, parameters, device.type)


def autocast_for(config: RunConfig, device: torch.device):
    """bf16 autocast where the run computes in bf16 (`computes_in_bf16`); weights stay fp32."""
    if computes_in_bf16(config, device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def lr_factor(config: RunConfig, step: int) -> float:
    """Linear warmup over `warmup_steps` (at most half the run), then linear decay to zero at
    `steps`, or the full rate to the end (`lr_schedule`)."""
    warmup = min(config.warmup_steps, config.steps // 2)
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if config.lr_schedule == "constant":
        return 1.0
    return max(0.0, (config.steps - step) / max(1, config.steps - warmup))


def train_step(
    objective: Objective,
    batches: Batches,
    optimizer,
    config,
    device,
    step: int,
    processes: Processes | None = None,
):
    """One optimiser step on the next forget/retain batch; returns the step's loss terms.
    Among several processes, each trains on its share of the batch (engine/distributed.py)."""
    processes = processes or Processes.single()
    batch, n_forget, groups = batches.next(device)
    keys = batches.last_keys
    guesses = batches.guesses(device) if config.guess_weight > 0 else None
    if processes.distributed:
        batch, n_forget, groups, keys = local_share(batch, n_forget, groups, keys, processes)
        if guesses is not None:
            guesses = {k: v[processes.share(len(v))] for k, v in guesses.items()}
    # the forget rows' attributes pick their never-seen targets (holdout_target_weight)
    kinds = forget_kinds(batches, keys, n_forget) if config.holdout_target_weight > 0 else None

    def loss():
        return objective(batch, n_forget, groups, guesses, keys=keys, kinds=kinds)

    with autocast_for(config, device):
        out = loss()
    out.terms = processes.average_terms(out.terms)
    if not math.isfinite(out.terms["total"]):
        raise RunFailed(
            f"the loss became {out.terms['total']} at step {step} "
            f"(terms: {out.terms}); lower the learning rate"
        )
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if config.sam_rho > 0:  # the forget term's gradient taken at perturbed weights
        moved = sharpness_aware_backward(
            out, loss, params, config.sam_rho, lambda: autocast_for(config, device)
        )
        if moved is not None and not math.isfinite(moved):
            raise RunFailed(
                f"the forget loss at the sharpness-aware perturbation became {moved} at step "
                f"{step}; lower sam_rho or the learning rate"
            )
    else:
        out.total.backward()
    processes.average_gradients(params)
    if config.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return out


def forget_kinds(batches: Batches, keys: list, n_forget: int) -> list:
    """The attribute each forget row asks (None where an item has none)."""
    return [(batches.forget[index].meta or {}).get("attribute") for _, index in keys[:n_forget]]


def local_share(batch, n_forget: int, groups: list, keys: list, processes: Processes):
    """This process's rows of a global batch: its share of the forget rows, then of the retain
    rows, cut to the longest of them."""
    forget = processes.share(n_forget)
    retain = processes.share(len(keys) - n_forget)
    rows = [*range(forget.start, forget.stop)]
    rows += [n_forget + i for i in range(retain.start, retain.stop)]
    width = int(batch["attention_mask"][rows].sum(1).max())
    local = {k: v[rows, :width] for k, v in batch.items()}
    return local, forget.stop - forget.start, groups[forget], [keys[i] for i in rows]


def check_shares(config: RunConfig, task: UnlearningTask, processes: Processes) -> None:
    """Each process must get an equal share of every batch (so the gradient average is the
    global batch's mean)."""
    sizes = {
        "forget_batch_size": min(config.forget_batch_size, len(task.forget)),
        "retain_batch_size": min(config.retain_batch_size, len(task.retain)),
    }
    for name, rows in sizes.items():
        if rows % processes.count:
            raise ConfigError(
                f"{name}: {rows} rows a step do not split evenly over {processes.count} "
                f"processes; pick a multiple of {processes.count}"
            )


def run_unlearning(
    config: RunConfig,
    on_event: Callable[[Event], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    task: UnlearningTask | None = None,
    loaded: LoadedModel | None = None,
) -> RunResult:
    """Run one configured unlearning job to the end, a failure, or a stop request."""
    processes = Processes.join(config.device)  # one, unless started by `accelerate launch`
    # Only the main process speaks; the others train their share and follow its decisions.
    emit = (on_event or (lambda event: None)) if processes.main else (lambda event: None)
    stop = should_stop or (lambda: False)
    started = time.perf_counter()
    phases: dict[str, float] = {}  # seconds spent in each stage, for the report
    seed_everything(config.seed)
    device = processes.device if processes.distributed else resolve_device(config.device)
    # Sharded, the whole model is read into host memory and each process's shard moved to
    # its device (Processes.shard): the whole model need not fit one device.
    loaded = loaded or load_model(
        config.model,
        device="cpu" if processes.sharded else str(device),
        dtype=weights_dtype(config, device),
    )
    task = task or task_for_model(config.task, loaded.spec)
    check_shares(config, task, processes)
    model = attach_lora(loaded.model, config)
    checkpointing = activation_checkpointing(config, model, device)
    if checkpointing:
        enable_activation_checkpointing(model)
    processes.same_start([p for p in model.parameters() if p.requires_grad])
    if processes.sharded:
        processes.shard(model)
    measurer = Measurer.for_run(model, loaded, config)
    measurer.merges_adapter &= not processes.sharded  # FSDP's shards are no whole weights
    measurer.should_stop = stop  # measurements end within a batch of a Stop (RunStopped)
    objective = Objective(model, config, model.config.hidden_size, processes)
    live = LiveView(measurer, task, config, objective.feature_layer)
    phases["load"] = time.perf_counter() - started
    trainable, total = trainable_parameter_count(model)
    emit(
        Event(
            "started",
            0,
            {
                "task": task.summary(),
                "device": str(device),
                "trainable_parameters": trainable,
                "parameters": total,
            },
        )
    )
    history: dict[str, list] = {"steps": [], "evaluations": []}
    report: dict[str, Any] = {
        "provenance": provenance(),
        "schema": schema(),  # what each metric means; docs/report.md describes every key
        "config": config.to_dict(),
        "task": task.summary(),
        "guess_term": guess_term(config, task),
        "history": history,
        # how many items each measurement used, and which report fields it fed
        "evaluation_sizes": {"live": live_sizes(live, config.eval_items)},
        "processes": processes_note(processes),
        "activation_checkpointing": checkpointing,
    }

    def finish(status: str, reason: str = "", adapter_state=None) -> RunResult:
        report["status"], report["reason"] = status, reason
        report.setdefault("timing", {})["total_seconds"] = round(time.perf_counter() - started, 3)
        emit(Event(status, len(history["steps"]), {"reason": reason, "report": report}))
        return RunResult(status, config, report, model, reason, adapter_state)

    # The first points go out before the slower "before" assessment, so a UI can draw at once
    # (at step 0 the LoRA update is zero: the adapter-on model is the original).
    # Every measurement runs at the training precision. Where bf16 is native it made the
    # embedded model's before assessment 1.3-1.6x faster than fp32 and moved its metrics by at
    # most 0.004 (kNN separability 0.827 vs 0.823, entanglement 177.6 vs 177.5, truth ratio
    # 0.862 vs 0.862; accuracies and AUCs equal). Snapshots are cached per precision.
    precision = precision_name(config, device)
    report["computed_in"] = precision  # training, live view and before/after metrics alike
    if config.task == "custom" and not processes.distributed:  # is there anything to forget?
        emit(Event("stage", 0, {"stage": KNOWLEDGE_STAGE}))
        try:
            with autocast_for(config, device):
                report["prior_knowledge"] = what_it_knows(measurer, task, config.seed)
        except RunStopped:
            return finish("cancelled", "stopped by the user before training")
        if not report["prior_knowledge"]["known"] and not config.even_if_unknown:
            return finish("failed", nothing_to_forget(report["prior_knowledge"]))

    def live_point(step: int) -> dict[str, Any]:
        with autocast_for(config, device):
            return {"step": step, **live.measure(step)}

    def live_parity() -> dict[str, float]:
        with autocast_for(config, device):
            return live.parity()

    parity = ParityStop(live.band) if live.measures_parity else None
    kept: dict[str, torch.Tensor] = {}  # LoRA weights of the evaluation closest to parity

    def evaluate(step: int) -> str:
        """A live evaluation, handed out in two parts: the points and cheap metrics at once,
        then the same step again with the parity measures added (an evaluation event for a step
        already sent replaces it). Under the parity rule, its verdict (and the LoRA weights are
        kept when it is the closest to parity so far). Among several processes the main one
        evaluates (all do when the model is sharded) and the others follow its verdict."""
        verdict, improved = processes.from_main(evaluate_here(step) if processes.measures else None)
        if improved and config.stop_at == "parity" and processes.measures:
            kept.update(trainable_state(model))  # sharded: each process keeps its own shard
        return verdict

    def evaluate_here(step: int) -> tuple[str, bool]:
        with measurer.unlearned():  # on a CPU, the adapter merged once for both parts
            history["evaluations"].append(live_point(step))
            emit(Event("evaluation", step, history["evaluations"][-1]))
            phases.setdefault("first_points", time.perf_counter() - started)
            if parity is None:
                return CONTINUE, False
            point = history["evaluations"][-1]
            point = {**point, "metrics": {**point["metrics"], **live_parity()}}
        history["evaluations"][-1] = point
        emit(Event("evaluation", step, point))
        return parity.observe(step, point["metrics"]), parity.improved

    # A model already at parity before unlearning has nothing to forget here (it never learned
    # these items, or not beyond what it guesses for strangers): the parity rule trains no step.
    stage = "measuring the original model"  # what a Stop interrupts, for the report
    try:
        # the step-0 view is the first slow part after loading (SmolLM2: greedy answers to
        # every live item); without its own stage a page said "loading the model" meanwhile
        emit(Event("stage", 0, {"stage": FIRST_VIEW_STAGE}))
        at_parity_already = evaluate(0) == REACHED
        if processes.measures:  # the main process's alone, unless the model is sharded
            phases["parity_at_start"] = time.perf_counter() - started - phases["first_points"]
            # Built after the first points: encoding its item sets takes a moment a UI should
            # not wait.
            assessment = Assessment(
                measurer, task, objective.feature_layer, config.final_eval_items, config.seed
            )
            # sharded, a process that read a measurement from disk would skip a forward pass
            # the others wait in
            assessment.disk_cache = not processes.sharded
            fingerprint = f"{base_weights_fingerprint(model)}/{precision}/{device.type}"
            # "kept": read back, not measured; a page estimates only a real measurement
            kept_already = assessment.original_is_kept(fingerprint)
            emit(Event("stage", 0, {"stage": STAGES[0], "kept": kept_already}))
            tick = time.perf_counter()
            with autocast_for(config, device):
                before = assessment.measure_original(fingerprint)
            phases["assess_before"] = time.perf_counter() - tick
            if not kept_already:  # for the next run's estimate of this phase
                phase_costs.record(
                    phase_costs.cost_key(config.model, device.type, config.final_eval_items),
                    phase_costs.MEASURE_BEFORE,
                    phases["assess_before"],
                )
            report["metrics"] = {"before": before.metrics}  # kept in a stopped run's report
            report["evaluation_sizes"]["final"] = final_sizes(
                assessment, config.final_eval_items, before
            )
        batches = Batches(measurer, task, config)
        if config.holdout_target_weight > 0:  # where never-seen people sit, measured once
            with autocast_for(config, device):
                set_stranger_targets(objective, measurer, task)
        trainable_params = [p for p in model.parameters() if p.requires_grad]
        optimizer = adamw(trainable_params, config.learning_rate)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(config, s))
        step_seconds = []
        model.train()
        stage = "training (at a live evaluation)"
        emit(Event("stage", 0, {"stage": STAGES[1]}))
        try:
            last_step = 0 if (at_parity_already and config.stop_at == "parity") else config.steps
            for step in range(1, last_step + 1):
                if processes.any(stop()):
                    return finish("cancelled", f"stopped by the user after {step - 1} steps")
                tick = time.perf_counter()
                out = train_step(objective, batches, optimizer, config, device, step, processes)
                scheduler.step()
                step_seconds.append(time.perf_counter() - tick)
                history["steps"].append({"step": step, **out.terms})
                emit(Event("step", step, {"terms": out.terms, "seconds": step_seconds[-1]}))
                if step % config.eval_every and step != config.steps:
                    continue
                tick = time.perf_counter()
                verdict = evaluate(step)
                spent = time.perf_counter() - tick
                phases["live_evaluations"] = phases.get("live_evaluations", 0.0) + spent
                if verdict != CONTINUE and config.stop_at == "parity":
                    break
        except RunFailed as error:
            return finish("failed", str(error))
        trained = len(history["steps"])
        if processes.any(stop()):
            return finish("cancelled", f"stopped by the user after {trained} steps")
        if not processes.measures:  # the main process measures, reports and writes
            return RunResult("finished", config, {"status": "finished", "process": processes.rank})
        outcome = parity_outcome(config, parity, trained)
        if processes.sharded:  # every process restores the same step's shards
            outcome = processes.from_main(outcome)
        report["parity"] = outcome
        if kept and outcome["kept_step"] != trained:
            load_trainable_state(model, kept)  # went past parity: back to the closest state
        emit(Event("parity", trained, report["parity"]))
        model.eval()
        stage = "measuring the unlearned model"
        emit(Event("stage", trained, {"stage": STAGES[2]}))
        tick = time.perf_counter()
        with autocast_for(config, device), measurer.unlearned():
            after = assessment.measure(adapter=True)
        assessment.compare(before, after)
        phases["assess_after"] = time.perf_counter() - tick
        if report["parity"].get("measurable"):  # does the live verdict hold on more items?
            report["parity"]["final"] = final_check(
                before.metrics, after.metrics, report["parity"]["closest"], live.band
            )
            emit(Event("parity", trained, report["parity"]))
        # a sharded adapter is gathered whole, for the run folder (every process takes part)
        adapter_state = processes.full_trainable_state(model) if processes.sharded else None
        if not processes.main:
            return RunResult("finished", config, {"status": "finished", "process": processes.rank})
        snapshots = {"before": before, "after": after}
        tick = time.perf_counter()
        stage = "measuring the gold model"
        with autocast_for(config, device):
            gold, gold_answers = _gold_metrics(assessment, loaded, device, config, snapshots)
        phases["gold"] = time.perf_counter() - tick
        # what the page's "measuring the unlearned model" waited, for the next run's estimate
        phase_costs.record(
            phase_costs.cost_key(config.model, device.type, config.final_eval_items),
            phase_costs.MEASURE_AFTER,
            phases["assess_after"] + phases["gold"],
        )
        report["metrics"] = {"before": before.metrics, "after": after.metrics, "gold": gold}
        if gold_measured(gold):
            report["evaluation_sizes"]["gold"] = gold_sizes(assessment, before)
        report["generations"] = _generations(assessment, before, after, gold_answers)
        if config.relearn_check:
            stage = RELEARN_STAGE
            emit(Event("stage", trained, {"stage": RELEARN_STAGE}))
            tick = time.perf_counter()
            report["relearning"] = (
                {"unavailable": "not in a run split over several processes"}
                if processes.distributed
                else relearning_report(model, loaded, config, task, device, stop)
            )
            phases["relearning"] = time.perf_counter() - tick
        report["timing"] = {
            "seconds_per_step": float(np.median(step_seconds)) if step_seconds else None,
            "seconds_per_step_covers": "the median optimiser step (forward, backward, update); "
            "live evaluations after step 0 are live_evaluations_seconds, step 0's are "
            "first_points_seconds and parity_at_start_seconds",
            "train_seconds": round(sum(step_seconds), 3),
            **{f"{name}_seconds": round(value, 3) for name, value in phases.items()},
            # frozen models' measurements read back from the disk cache instead of made
            "from_disk_cache": assessment.from_disk,
        }
        return finish("finished", adapter_state=adapter_state)
    except RunStopped:  # a Stop during a measurement: what was measured stays in the report
        return finish("cancelled", f"stopped by the user while {stage}")


def processes_note(processes: Processes) -> dict:
    """How many processes trained the run, and what CLReg's contrastive term saw."""
    note: dict[str, Any] = {"count": processes.count}
    if processes.distributed:
        note["clreg_contrast"] = (
            "every process's rows (features gathered with gradient): the global batch, as in "
            "one process"
        )
        note["sharded"] = (
            "FSDP: weights split over the processes, every process evaluates in step"
            if processes.sharded
            else "no: data parallel, each process holds the whole model"
        )
    return note


KNOWLEDGE_STAGE = "asking the model what it knows of your text"


def parity_outcome(config: RunConfig, parity: ParityStop | None, trained: int) -> dict:
    """The report's account of parity: the rule, where the band was reached (or that it was
    not, or could not be measured), why training stopped, and which step's weights were kept."""
    outcome: dict[str, Any] = {"rule": config.stop_at, "trained_steps": trained}
    if parity is None:
        outcome.update(
            measurable=False,
            kept_step=trained,
            why="this task has no never-trained (holdout) questions to compare the forget set with",
        )
        return outcome
    summary = parity.summary()
    outcome.update(measurable=True, **summary)
    if config.stop_at == "steps":
        outcome.update(kept_step=trained, stopped_because="all steps done")
        return outcome
    last = summary["overshot_at"] or summary["reached_at"]
    if summary["reached_at"] and summary["reached_at"]["step"] == trained:
        stopped = "parity reached" if trained else "already at parity before unlearning"
    elif last and last["step"] == trained:
        stopped = "went past parity"
    else:
        stopped = "step ceiling, parity not reached"
    outcome.update(kept_step=summary["closest"]["step"], stopped_because=stopped)
    return outcome


def relearning_report(model, loaded, config, task, device, should_stop) -> dict:
    """The relearning check's report block (engine/relearning.py), against the gold model where
    this model has one for this task. A Stop during it ends the check, not the finished run."""
    from clreg_core.engine.relearning import RelearningStopped, relearning_check

    spec = loaded.spec
    reference = None
    try:
        if spec.gold_for(config.task):
            gold = load_model(spec.gold_for(config.task), device=str(device))
            reference = (gold.model, gold)
        return relearning_check(
            model, loaded, config, task, should_stop=should_stop, reference_model=reference
        )
    except RelearningStopped:
        return {"unavailable": "stopped by the user during the check"}
    except UserInputError as error:  # the gold model cannot be loaded: say so, keep the run
        return {"unavailable": str(error)}


def _gold_metrics(assessment, loaded, device, config, snapshots) -> tuple[dict, dict]:
    """The gold (retrained without the forget set) model's metrics and answers, where this model
    has one for this task; ({}, {}) elsewhere."""
    source = loaded.spec.gold_for(config.task)
    if source is None:
        return {}, {}

    def load_gold() -> Measurer:
        gold = load_model(source, device=str(device), dtype=weights_dtype(config, device))
        measurer = Measurer.for_run(gold.model, gold, config)
        measurer.should_stop = assessment.measurer.should_stop
        return measurer

    try:
        weights = measurement_cache.folder_fingerprint(source)  # None: a hub name
        cache_key = f"{source}/{weights}/{precision_name(config, device)}/{device.type}"
        return assessment.against_gold(cache_key, load_gold, snapshots, on_disk=bool(weights))
    except UserInputError as error:  # a missing gold model costs its metrics, not the run
        return {"unavailable": str(error)}, {}


def _generations(assessment: Assessment, before, after, gold_answers: dict) -> list[dict]:
    """Before/after answers to a few forget and retain questions, taken from the greedy answers
    the assessment already generated (adapter off, then on: one model in memory); where a gold
    model exists, its answer too (`gold`): what an unlearned model should sound like."""
    rows = []
    for side, items in (("forget", assessment.forget), ("retain", assessment.retain)):
        probes = qa_only(items)[:PROBES_PER_SIDE]
        for index, item in enumerate(probes):
            row = {
                "set": side,
                "prompt": item.question,
                "expected": item.answer,
                "before": before.answers[side][index],
                "after": after.answers[side][index],
            }
            if gold_answers.get(side):
                row["gold"] = gold_answers[side][index]
            rows.append(row)
    return rows
