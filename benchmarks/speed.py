"""How fast is a step, against a naive implementation and against this machine's limit (issue 5).

    python benchmarks/speed.py                                  # embedded + SmolLM2 on this CPU
    python benchmarks/speed.py --device cuda --tag gpu \\
        --smollm2-from .gpu_carry/smollm2-config                # random weights, same shapes

Per model and base method, with and without CLReg: median ms per step, tokens per second, peak
memory, and the CLReg overhead as a ratio of medians measured in the same run (the two settings
alternate in blocks so both see the same machine load). Two references, measured in the same run:
(a) a straightforward NPO+CLReg step of the kind common in public unlearning code (a deep copy
of the model gives the reference outputs, a second forward pass with `output_hidden_states`
gives the features, full-vocabulary log-softmax); (b) the machine's limit: the step's FLOPs
(counted by torch's FlopCounterMode) over the matmul throughput measured here at the step's
precision, as a fraction of peak. Writes results/speed[-tag].json and a BENCHMARKS.md section.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.markdown import describe_machine, provenance, table, write_section  # noqa: E402
from clreg_core.config import default_config  # noqa: E402
from clreg_core.data.sources import build_task  # noqa: E402
from clreg_core.engine import losses  # noqa: E402
from clreg_core.engine.evaluation import Measurer  # noqa: E402
from clreg_core.engine.lora import attach_lora  # noqa: E402
from clreg_core.engine.objective import Objective  # noqa: E402
from clreg_core.engine.sampling import Batches  # noqa: E402
from clreg_core.engine.training import (  # noqa: E402
    autocast_for,
    native_bf16,
    resolve_device,
    train_step,
)
from clreg_core.models.loading import LoadedModel, load_model  # noqa: E402
from clreg_core.models.registry import resolve_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("graddiff", "npo", "simnpo", "rmu")
STEPS = {"embedded": (3, 4, 4), "smollm2-135m": (1, 2, 3)}  # warm-up, steps a block, blocks


class PeakMemory:
    """Peak memory (MB) while a block of steps runs: the CUDA allocator's peak on a GPU; on the
    CPU the process's whole resident set, sampled every 2 ms."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            self.peak = _rss()
            self._done = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._done.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            self._done.set()
            self._thread.join()
            self.mb = self.peak / 2**20


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def load(model_key: str, device: torch.device, random_from: str | None) -> LoadedModel:
    """The real model, or (for a GPU machine the weights cannot travel to) one built from the
    same config and tokenizer with random weights, which times the same."""
    if not random_from:
        return load_model(model_key, device=str(device))
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(random_from))
    tokenizer = AutoTokenizer.from_pretrained(random_from)
    return LoadedModel(resolve_model(model_key), model.to(device).eval(), tokenizer, "chat", 0.0)


class Bench:
    """One model with LoRA attached once; each setting gets its own objective and optimiser."""

    def __init__(self, loaded: LoadedModel, device: torch.device):
        self.device = device
        self.base = default_config(loaded.spec.key, device=device.type)
        self.task = build_task(self.base.task, model_key=loaded.spec.key)
        self.model = attach_lora(loaded.model, self.base)
        self.measurer = Measurer(self.model, loaded.tokenizer, loaded.prompt_style, 64)
        self.model.train()

    def setting(self, method: str, clreg: bool):
        config = self.base.with_changes(method=method, clreg=clreg)
        objective = Objective(self.model, config, self.model.config.hidden_size)
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-6)  # tiny: timing must not wreck the model
        batches = Batches(self.measurer, self.task, config)
        return lambda: train_step(objective, batches, optimizer, config, self.device, 0)

    def tokens_per_step(self) -> int:
        batch, _, _ = Batches(self.measurer, self.task, self.base).next("cpu")
        return int(batch["attention_mask"].sum())


def time_block(step, count: int, device) -> list[float]:
    times = []
    for _ in range(count):
        sync(device)
        tick = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - tick)
    return times


def measure_model(bench: Bench, model_key: str, methods, with_naive: bool) -> dict:
    warm, per_block, blocks = STEPS[model_key]
    settings = {(m, c): bench.setting(m, c) for m in methods for c in (False, True)}
    if with_naive:
        settings[("naive npo", True)] = naive_npo_clreg_step(bench)
    times = {key: [] for key in settings}
    peaks = {}
    for step in settings.values():
        time_block(step, warm, bench.device)
    for _ in range(blocks):  # alternate settings block by block: same load for each
        for key, step in settings.items():
            with PeakMemory(bench.device) as peak:
                times[key] += time_block(step, per_block, bench.device)
            peaks[key] = max(peaks.get(key, 0.0), peak.mb)
    tokens = bench.tokens_per_step()
    rows = []
    for (method, clreg), ts in times.items():
        ms = statistics.median(ts) * 1e3
        rows.append(
            {
                "method": method,
                "clreg": clreg,
                "ms_per_step": ms,
                "tokens_per_second": tokens / (ms / 1e3),
                "peak_memory_mb": peaks[(method, clreg)],
                "steps_timed": len(ts),
            }
        )
    by_key = {(r["method"], r["clreg"]): r for r in rows}
    for method in methods:
        by_key[(method, True)]["clreg_overhead"] = (
            by_key[(method, True)]["ms_per_step"] / by_key[(method, False)]["ms_per_step"]
        )
    if with_naive:
        by_key[("naive npo", True)]["speedup_of_ours"] = (
            by_key[("naive npo", True)]["ms_per_step"] / by_key[("npo", True)]["ms_per_step"]
        )
    flops = step_flops(settings[("npo", True)])
    return {"tokens_per_step": tokens, "npo_clreg_step_flops": flops, "rows": rows}


def naive_npo_clreg_step(bench: Bench):
    """NPO + CLReg as much public unlearning code writes it: a frozen deep copy for the reference,
    logits and features from two separate forward passes, a full (B, T, V) log-softmax."""
    config = bench.base.with_changes(method="npo", clreg=True)
    model, device = bench.model, bench.device
    reference = copy.deepcopy(model).eval()  # a second copy of every weight
    for p in reference.parameters():
        p.requires_grad_(False)
    layer = Objective(model, config, model.config.hidden_size).feature_layer
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-6)
    batches = Batches(bench.measurer, bench.task, config)

    def seq_logp(logits, labels):
        logp = torch.log_softmax(logits[:, :-1].float(), -1)  # (B, T-1, V) copy
        targets = labels[:, 1:]
        keep = targets != -100
        picked = logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
        return (picked * keep).sum(-1)

    def step():
        batch, n, groups = batches.next(device)
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        with autocast_for(config, device):
            logp = seq_logp(model(**inputs).logits, batch["labels"])
            hidden = model(**inputs, output_hidden_states=True).hidden_states[layer + 1]
            with torch.no_grad():
                ref_out = reference(**inputs, output_hidden_states=True)
            ref_logp = seq_logp(ref_out.logits, batch["labels"])
            z = losses.pool_features(hidden, batch["feature_mask"])
            z_ref = losses.pool_features(ref_out.hidden_states[layer + 1], batch["feature_mask"])
            loss = (
                losses.npo_loss(logp[:n], ref_logp[:n], beta=config.npo_beta)
                + losses.nll(logp[n:])
                + config.clreg_weight
                * losses.clreg_infonce(z[:n], z[n:], groups[:n], temperature=config.temperature)
                + config.anchor_weight * losses.anchor_loss(z[n:], z_ref[n:])
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def step_flops(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int) -> float:
    """Best FLOP/s of a square matmul at this precision on this device (median of 5)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    times = time_block(lambda: a @ b, 5, device)
    return 2 * size**3 / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["embedded", "smollm2-135m"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--smollm2-from", default="", help="config+tokenizer folder: random weights"
    )
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    device = resolve_device(args.device)
    started = time.perf_counter()
    # The default precision is auto: bf16 where it is native here, fp32 elsewhere.
    precision = torch.bfloat16 if native_bf16(device) else torch.float32
    peak = matmul_peak(device, precision, 8192 if device.type == "cuda" else 2048)
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": describe_machine(device),
        "step_precision": str(precision).replace("torch.", ""),
        "matmul_peak_tflops": peak / 1e12,
        "models": {},
        "command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]),
    }
    for key in args.models:
        random_from = args.smollm2_from if key == "smollm2-135m" else None
        bench = Bench(load(key, device, random_from), device)
        result = measure_model(bench, key, args.methods, with_naive=True)
        npo = next(r for r in result["rows"] if r["method"] == "npo" and r["clreg"])
        result["fraction_of_peak"] = (
            result["npo_clreg_step_flops"] / (npo["ms_per_step"] / 1e3) / peak
        )
        result["random_weights"] = bool(random_from)
        out["models"][key] = result
        print_model(key, result)
        del bench
    out["seconds"] = round(time.perf_counter() - started, 1)
    tag = f"-{args.tag}" if args.tag else ""
    (RESULTS / f"speed{tag}.json").write_text(json.dumps(out, indent=1) + "\n")
    write_section(f"speed{tag}", markdown(out, args.tag))
    print(f"wrote results/speed{tag}.json ({out['seconds']} s)")


def print_model(key: str, result: dict) -> None:
    for r in result["rows"]:
        extra = f" overhead {r['clreg_overhead']:.3f}" if "clreg_overhead" in r else ""
        print(
            f"{key} {r['method']:9s} clreg={r['clreg']!s:5s} {r['ms_per_step']:8.1f} ms/step "
            f"{r['tokens_per_second']:9.0f} tok/s {r['peak_memory_mb']:8.0f} MB{extra}"
        )
    print(f"{key}: NPO+CLReg step reaches {result['fraction_of_peak']:.1%} of the matmul peak")


def markdown(out: dict, tag: str) -> str:
    body = [
        f"## Speed and memory{f' ({tag})' if tag else ''}",
        "",
        provenance(out, "python benchmarks/speed.py")
        + f"Steps at {out['step_precision']} (the default `auto` precision here); measured "
        f"matmul peak at that precision: {out['matmul_peak_tflops']:.2f} TFLOP/s. Medians over "
        "alternating blocks of steps; *overhead* is CLReg's step time over its base method's, "
        "from the same run. *naive npo* is reference (a); *peak memory* is the CUDA allocator's "
        "peak on a GPU, the process's resident set on the CPU.",
    ]
    for key, result in out["models"].items():
        weights = " (random weights, same config)" if result["random_weights"] else ""
        body += [
            "",
            f"### {key}{weights}: {result['tokens_per_step']} tokens a step",
            "",
        ]
        rows = []
        for r in result["rows"]:
            rows.append(
                [
                    r["method"] + (" + CLReg" if r["clreg"] else ""),
                    f"{r['ms_per_step']:.1f}",
                    f"{r['tokens_per_second']:,.0f}",
                    f"{r['peak_memory_mb']:,.0f}",
                    f"{r['clreg_overhead']:.3f}" if "clreg_overhead" in r else "",
                ]
            )
        body.append(table(["setting", "ms/step", "tokens/s", "peak MB", "overhead"], rows))
        naive = next(r for r in result["rows"] if r["method"] == "naive npo")
        body += [
            "",
            f"Ours vs naive (a): {naive['speedup_of_ours']:.2f}x faster. Machine limit (b): an "
            f"NPO+CLReg step is {result['npo_clreg_step_flops'] / 1e9:.1f} GFLOP, "
            f"{result['fraction_of_peak']:.2%} of the measured matmul peak.",
        ]
    return "\n".join(body)


if __name__ == "__main__":
    main()
