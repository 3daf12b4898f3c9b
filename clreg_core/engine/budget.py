"""Before a run is queued: do its settings fit the model, and does the run fit the host?

`check_fits_model` holds the settings against the model's shape (read from its config, no
weights): a feature layer within its depth, a LoRA rank within its width, items within its
context. `estimate` gives a run's time and peak memory from the same shape, and `check_budget`
refuses a run beyond the host's budget (`CLREG_MAX_RUN_S`, `CLREG_MAX_RUN_MB`) with a message
that says what to lower. The estimate is arithmetic, not a measurement: matmul work at a rate
calibrated on this project's two offline models on a 2-core CPU (the embedded default run,
~45 s measured, and SmolLM2's ~2.4 s steps), plus per-call overheads. It is meant to catch the
run that would take hours or tens of GB, not to predict seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from clreg_core.config import ConfigError, RunConfig
from clreg_core.data.items import UnlearningTask
from clreg_core.models.registry import ModelSpec
from clreg_core.models.shape import ModelShape, model_shape

# A 2-core CPU Space with 16 GB: a quarter of an hour on the shared slot, and memory that leaves
# room for the app, its models and one more visitor's free questions.
DEFAULT_MAX_RUN_S = 900.0
DEFAULT_MAX_RUN_MB = 6000.0
CPU_FLOPS_PER_THREAD = 50e9  # fp32, what the steps of both offline models reach on 2 threads
GPU_FLOPS = 100e12  # bf16 on a recent data-centre GPU, well below peak (small batches)
STEP_OVERHEAD_S = {"cpu": 0.02, "cuda": 0.3}  # Python, optimiser, kernel launches per step
# Per generated token (one decoding step of a batch). On a GPU a small model's decoding step is
# bound by kernel launches, tens of ms; charging it a training step's 0.3 s made a default
# SmolLM2 run's estimate 169 s, most of it generation, on a GPU where its 80 steps take ~30 s
# (0.36 s a step on an H200, BENCHMARKS.md "Speed and memory (gpu)").
TOKEN_OVERHEAD_S = {"cpu": 0.02, "cuda": 0.03}
GENERATED_TOKENS = 32  # evaluation.MAX_ANSWER_TOKENS
GOLD_PASSES = 1  # the gold model answers the forget questions once, where one exists
# From this size on, a GPU run keeps the frozen weights in bf16 (an 8B model: 16 GB, not 32);
# smaller models keep fp32 weights under bf16 autocast, the setting their defaults were tuned in.
LARGE_MODEL_PARAMETERS = 1e9


@dataclass(frozen=True)
class Estimate:
    seconds: float
    megabytes: float
    parts: dict[str, float]  # seconds per phase, for the message

    def describe(self) -> str:
        return f"about {duration_text(self.seconds)} and {self.megabytes:,.0f} MB"


@dataclass(frozen=True)
class Limits:
    max_seconds: float | None
    max_megabytes: float | None
    max_steps: float | None = None  # a host's own cap on steps, beyond the config's range

    @classmethod
    def from_env(cls, defaults: bool = True) -> Limits:
        """The host's budget: `CLREG_MAX_RUN_S`, `CLREG_MAX_RUN_MB` and `CLREG_MAX_STEPS`, else
        the Space defaults (`defaults=False`: no limit where the variable is unset, as for the
        CLI; no step cap unless set)."""
        return cls(
            env_number("CLREG_MAX_RUN_S", DEFAULT_MAX_RUN_S if defaults else None),
            env_number("CLREG_MAX_RUN_MB", DEFAULT_MAX_RUN_MB if defaults else None),
            env_number("CLREG_MAX_STEPS", None),
        )

    def describe(self) -> str:
        """The host's caps on one run, in words for the page ("" when there are none)."""
        caps = []
        if self.max_steps:
            caps.append(f"{self.max_steps:,.0f} steps (CLREG_MAX_STEPS)")
        if self.max_seconds:
            caps.append(
                f"an estimated {duration_text(self.max_seconds)} (CLREG_MAX_RUN_S; a run is "
                f"stopped at {duration_text(2 * self.max_seconds)})"
            )
        if self.max_megabytes:
            caps.append(f"{self.max_megabytes:,.0f} MB (CLREG_MAX_RUN_MB)")
        return "This host's caps on one run: " + ", ".join(caps) + "." if caps else ""


def env_number(name: str, default: float | None) -> float | None:
    """A positive number from the environment, `default` where unset, None where 0 or less."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} must be a number of {name[-1]}") from None
    return value if value > 0 else None


def admit(
    config: RunConfig,
    task: UnlearningTask | None,
    limits: Limits,
    device: str | None = None,
    device_here: bool = True,
) -> Estimate:
    """Every check a run passes before it is queued (ConfigError naming what to change);
    returns its estimate. Reads the model's config only: an offline hub fails in seconds.
    `device_here=False`: the run computes on another machine's device (a ZeroGPU worker), whose
    free memory this process cannot read."""
    check_steps(config, limits)
    shape = model_shape(config.model)
    check_fits_model(config, shape)
    device = device or _device(config)
    estimated = estimate(config, shape, task, device)
    check_budget(estimated, limits)
    if device_here:
        check_device_memory(estimated, free_device_megabytes(device))
    return estimated


def weights_in_bf16(config: RunConfig, parameters: float, device: str) -> bool:
    """Whether a run loads its frozen weights in bf16: a model of LARGE_MODEL_PARAMETERS or
    more, on a GPU, where the run computes in bf16 (precision auto or bf16)."""
    return (
        str(device).startswith("cuda")
        and parameters >= LARGE_MODEL_PARAMETERS
        and config.precision != "fp32"
    )


def checkpoints_activations(config: RunConfig, parameters: float, device: str) -> bool:
    """Whether a run recomputes block activations in the backward pass: as asked, or under
    `auto` for a model of LARGE_MODEL_PARAMETERS or more on a GPU. On the 8B shape at 16x512
    tokens the activations, not the bf16 weights, are what outgrows a GPU (benchmarks/scale.py)."""
    if config.activation_checkpointing != "auto":
        return config.activation_checkpointing == "on"
    return str(device).startswith("cuda") and parameters >= LARGE_MODEL_PARAMETERS


def free_device_megabytes(device: str) -> float | None:
    """Free memory on the run's GPU; None on a CPU (the host budget, CLREG_MAX_RUN_MB, rules
    there: an upper-side estimate must not refuse runs that fit the RAM)."""
    if not str(device).startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info()
    return free / 2**20


def check_device_memory(estimated: Estimate, free_megabytes: float | None) -> None:
    """Refuse a run whose estimated peak memory is more than the GPU has free."""
    if free_megabytes is not None and estimated.megabytes > free_megabytes:
        raise ConfigError(
            f"this run would need {estimated.describe()}, more than the GPU has free "
            f"({free_megabytes:,.0f} MB): lower the batch sizes or max_length, or spread the "
            "shard it over several GPUs with FSDP (README, 'Larger models and several GPUs')"
        )


def admit_model(choice: str | ModelSpec, limits: Limits) -> None:
    """What a free question or a probe must pass before it loads a model: the model resolves
    (an offline hub fails in seconds) and its fp32 weights fit the host's memory budget."""
    shape = model_shape(choice)
    megabytes = shape.parameters * 4 / 2**20
    if limits.max_megabytes and megabytes > limits.max_megabytes:
        raise ConfigError(
            f"{getattr(choice, 'key', choice)!r} has about {shape.parameters / 1e9:.1f}B "
            f"parameters ({megabytes:,.0f} MB in fp32), more than this host allows "
            f"({limits.max_megabytes:,.0f} MB, CLREG_MAX_RUN_MB); pick a smaller model"
        )


def _device(config: RunConfig) -> str:
    from clreg_core.engine.training import resolve_device  # the loop's own rule

    return resolve_device(config.device).type


def check_fits_model(config: RunConfig, shape: ModelShape) -> None:
    """Settings the model's shape rules out, refused before loading its weights."""
    for name in ("feature_layer", "rmu_layer"):
        layer = getattr(config, name)
        if not -shape.layers <= layer < shape.layers:
            raise ConfigError(
                f"{name}={layer} is outside this model's {shape.layers} decoder blocks; use "
                f"0 to {shape.layers - 1}, or -1 to -{shape.layers} counting from the last"
            )
    if config.lora_rank > shape.hidden:
        raise ConfigError(
            f"lora_rank={config.lora_rank} is more than this model's width ({shape.hidden}); "
            "a rank that large is no longer low-rank (8-64 is usual)"
        )
    if shape.max_positions and config.max_length > shape.max_positions:
        raise ConfigError(
            f"max_length={config.max_length} is more than this model's context "
            f"({shape.max_positions} tokens)"
        )


def estimate(
    config: RunConfig, shape: ModelShape, task: UnlearningTask | None = None, device="cpu"
) -> Estimate:
    """A run's time (training, live evaluations, the before/after measurement) and peak memory."""
    device = "cuda" if str(device).startswith("cuda") else "cpu"
    tokens = _tokens_per_item(config, task)
    params = shape.parameters
    rows = config.forget_batch_size + config.retain_batch_size
    rate = GPU_FLOPS if device == "cuda" else CPU_FLOPS_PER_THREAD * _threads()
    forward = 2 * params * tokens  # FLOPs of one item through the model

    def seconds(flops: float, calls: float = 0, tokens: float = 0) -> float:
        overheads = calls * STEP_OVERHEAD_S[device] + tokens * TOKEN_OVERHEAD_S[device]
        return flops / rate + overheads

    live_items = _capped(config.eval_items, task, "forget")
    final_items = _capped(config.final_eval_items, task, "forget")
    evaluations = config.steps // config.eval_every + 1
    # training: forward, backward (activation gradients through the frozen base), the
    # original model's pass for NPO and the anchor
    train = seconds(config.steps * 4 * forward * rows, config.steps)
    per_live = 3 * live_items * forward + live_items * GENERATED_TOKENS * 2 * params
    live = seconds(evaluations * per_live, tokens=evaluations * GENERATED_TOKENS)
    # before and after: forget, retain, holdout passes, truth ratios (5 answers a fact) and
    # greedy answers on both sides
    per_side = 8 * final_items * forward + 2 * final_items * GENERATED_TOKENS * 2 * params
    final = seconds((2 + GOLD_PASSES) * per_side, tokens=3 * 2 * GENERATED_TOKENS)
    parts = {"training": train, "live evaluations": live, "before/after measurement": final}
    if config.relearn_check:
        parts["relearning check"] = _relearning_seconds(
            seconds, forward, params, final_items, live_items, _answer_tokens(task)
        )
    weight_bytes = 2 if weights_in_bf16(config, params, device) else 4
    checkpointing = checkpoints_activations(config, params, device)
    megabytes = _megabytes(config, shape, rows, tokens, weight_bytes, _launched(), checkpointing)
    return Estimate(sum(parts.values()), megabytes, parts)


def check_estimate(config: RunConfig, task: UnlearningTask | None, device: str) -> Estimate:
    """The relearning check of a finished run alone (the page's "gone or only hidden?" button):
    the check's part of the run's estimate, with the run's memory."""
    whole = estimate(config.with_changes(relearn_check=True), model_shape(config.model), task,
                     device)  # fmt: skip
    part = whole.parts["relearning check"]
    return Estimate(part, whole.megabytes, {"relearning check": part})


def _relearning_seconds(
    seconds, forward: float, params: int, items: int, live_items: int, answer_tokens: int
) -> float:
    """Three attacks (engine/relearning.py), each 20 steps of a 16-row batch and a greedy
    recall of up to 100 held-out facts after every step; the first attack's points (the live
    plot's forget and retain items, one pass each) at every step."""
    from clreg_core.engine.attacks import RelearnSettings, recall_steps

    attack = RelearnSettings()
    recalled = min(attack.test_items, items)
    per_recall = recalled * answer_tokens * 2 * params
    steps = 3 * attack.steps
    recalls = 3 * len(recall_steps(attack))
    motion = (len(recall_steps(attack)) + 1) * 2 * live_items * forward
    return seconds(
        steps * 3 * forward * attack.batch_size + recalls * per_recall + motion,
        steps,
        tokens=recalls * answer_tokens,
    )


def _answer_tokens(task: UnlearningTask | None) -> int:
    """Tokens a greedy recall generates: the forget answers' length (about 4 characters a
    token) plus generation's margin, at most GENERATED_TOKENS. The check's recalls are most of
    its cost, and charging each the full 32 made the embedded model's check estimate 78 s
    where it took about 25 s."""
    from clreg_core.engine.evaluation import ANSWER_MARGIN_TOKENS

    answers = [i.answer for i in (task.forget[:200] if task else ()) if i.answer]
    if not answers:
        return GENERATED_TOKENS
    chars = sum(len(a) for a in answers) / len(answers)
    return int(min(GENERATED_TOKENS, chars / 4 + ANSWER_MARGIN_TOKENS))


def _launched() -> tuple[int, bool]:
    """How many processes share the run, and whether they shard the weights (FSDP)."""
    from clreg_core.engine.distributed import launched_processes, launched_sharded

    return launched_processes(), launched_sharded()


def check_steps(config: RunConfig, limits: Limits) -> None:
    if limits.max_steps and config.steps > limits.max_steps:
        raise ConfigError(
            f"steps={config.steps} is more than this host allows a run "
            f"({limits.max_steps:,.0f}, CLREG_MAX_STEPS); lower the steps"
        )


def check_budget(estimated: Estimate, limits: Limits) -> None:
    """Refuse a run beyond the host's budget, saying which part is big and what to lower."""
    if limits.max_seconds and estimated.seconds > limits.max_seconds:
        biggest = max(estimated.parts, key=estimated.parts.get)
        raise ConfigError(
            f"this run would take {estimated.describe()}, more than this host allows a run "
            f"({duration_text(limits.max_seconds)}, CLREG_MAX_RUN_S); most of it is {biggest}: "
            "lower the steps, the batch sizes or the evaluation sizes"
        )
    if limits.max_megabytes and estimated.megabytes > limits.max_megabytes:
        raise ConfigError(
            f"this run would need {estimated.describe()}, more memory than this host allows a "
            f"run ({limits.max_megabytes:,.0f} MB, CLREG_MAX_RUN_MB): lower the LoRA rank, the "
            "batch sizes or max_length"
        )


def _megabytes(
    config: RunConfig,
    shape: ModelShape,
    rows: int,
    tokens: int,
    weight_bytes: int = 4,
    launched: tuple[int, bool] = (1, False),
    checkpointing: bool = False,
) -> float:
    """One device's peak: the weights and a second copy (the gold twin, or on a CPU the merged
    copy an evaluation of the unlearned model makes, lora.adapter_merged; never both at once)
    at `weight_bytes` each, LoRA weights with their gradients and Adam moments, the training
    step's activations and logits, and the evaluation's batch of logits. Among `launched`
    processes each trains its share of the rows; sharded (FSDP), each holds its share of the
    weights too. With `checkpointing`, the backward recomputes block activations, so only the
    blocks' inputs are kept."""
    processes, sharded = launched
    rows = max(1, rows // processes)
    weights = 2 * shape.parameters * weight_bytes
    lora = shape.lora_parameters(config.lora_rank) * 4 * 4
    if sharded:  # the evaluation's gathered block adds about one block's weights back
        weights = weights / processes + shape.parameters / shape.layers * weight_bytes
        lora /= processes
    # per token and block, the usual transformer activation count (34 values per hidden unit
    # plus the attention scores), in fp32
    per_block = (34 * shape.hidden + 5 * shape.heads * tokens) * 4
    per_token = shape.layers * per_block
    if checkpointing:  # each block's input is kept; one block's activations at a time
        per_token = shape.layers * shape.hidden * 4 + per_block
    activations = rows * tokens * per_token
    logits = rows * tokens * shape.vocab * 4 * 3  # logits, log-softmax, their gradient
    evaluation = 64 * tokens * (shape.vocab * 4 * 2 + shape.hidden * shape.layers * 4)
    return (weights + lora + activations + logits + evaluation) / 2**20


def _tokens_per_item(config: RunConfig, task: UnlearningTask | None) -> int:
    """Tokens in an average item with its prompt: from the task's text where it is known
    (about 4 characters a token, plus a prompt template), else half of max_length."""
    if task is None or not (task.forget or task.retain):
        return max(8, config.max_length // 2)
    items = list(task.forget[:200]) + list(task.retain[:200])
    chars = sum(len(i.question) + len(i.answer) + len(i.text) for i in items) / len(items)
    return int(min(config.max_length, chars / 4 + 24))


def _capped(count: int, task: UnlearningTask | None, side: str) -> int:
    """Evaluation sets hold at most the task's items."""
    return count if task is None else min(count, max(1, len(getattr(task, side))))


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


def duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
