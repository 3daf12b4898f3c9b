"""The paper's model size on one GPU: an NPO + CLReg LoRA step on a Llama-3.1-8B-shaped model.

    python benchmarks/scale.py --device cuda --tag gpu            # 8B shape, bf16, on the GPU
    python benchmarks/scale.py --shape tiny --shapes 2x16         # the script itself, on a CPU

The weights are random (an 8B checkpoint cannot travel to the GPU machine; random weights time
the same), built straight on the device in bf16 from Llama-3.1-8B's config numbers. The batch
is synthetic token ids of the asked shape (rows x tokens, half forget and half retain rows, the
second half of each row the answer), so tokens per step are exactly rows x tokens. Per shape:
median ms per step, tokens per second, peak memory, and the step's FLOPs (torch's
FlopCounterMode) over the matmul throughput measured in the same run (fraction of peak), with
activation checkpointing off and, where asked, on. Writes results/scale[-tag].json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.speed import PeakMemory, matmul_peak, step_flops, time_block  # noqa: E402
from clreg_core.config import RunConfig  # noqa: E402
from clreg_core.engine.lora import attach_lora  # noqa: E402
from clreg_core.engine.objective import Objective  # noqa: E402
from clreg_core.engine.training import autocast_for  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = {  # config.json numbers (Llama-3.1-8B's; tests/test_bad_inputs.py estimates this one)
    # "tiny" exists to run this script where no GPU is at hand
    "llama-8b": dict(
        num_hidden_layers=32,
        hidden_size=4096,
        intermediate_size=14336,
        vocab_size=128256,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=131072,
        tie_word_embeddings=False,
    ),
    "tiny": dict(
        num_hidden_layers=2,
        hidden_size=64,
        intermediate_size=128,
        vocab_size=256,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
    ),
}


def build_model(shape: str, device: torch.device, dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(**SHAPES[shape])
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    if device.type == "cuda":
        model.set_attn_implementation("sdpa")
    return model.eval()


def synthetic_batch(rows: int, tokens: int, vocab: int, device: torch.device) -> dict:
    """`rows` rows of `tokens` random ids; the second half of each row is its answer (labels,
    feature mask, value mask); half the rows forget, half retain, in groups of two."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, vocab, (rows, tokens), generator=g)
    answer = torch.zeros(rows, tokens, dtype=torch.long)
    answer[:, tokens // 2 :] = 1
    labels = ids.masked_fill(answer == 0, -100)
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "feature_mask": answer,
        "new_words_mask": answer,
        "value_mask": answer,
    }
    return {k: v.to(device) for k, v in batch.items()}


def measure(model, rows: int, tokens: int, device, repeats: int) -> dict:
    config = RunConfig(model="scale", method="npo", clreg=True, device=device.type)
    objective = Objective(model, config, model.config.hidden_size)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-6)
    batch = synthetic_batch(rows, tokens, model.config.vocab_size, device)
    n_forget = rows // 2
    groups = [i // 2 for i in range(n_forget)]

    def step():
        with autocast_for(config, device):
            out = objective(batch, n_forget, groups)
        out.total.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    time_block(step, 2, device)  # warm-up: kernels chosen, allocator grown
    flops = step_flops(step)
    with PeakMemory(device) as peak:
        times = time_block(step, repeats, device)
    ms = statistics.median(times) * 1000
    return {
        "rows": rows,
        "tokens": tokens,
        "ms_per_step": round(ms, 1),
        "tokens_per_second": round(rows * tokens / (ms / 1000), 1),
        "peak_memory_mb": round(peak.mb, 1),
        "step_tflop": round(flops / 1e12, 3),
        "achieved_tflops": round(flops / (ms / 1000) / 1e12, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama-8b")
    parser.add_argument("--shapes", nargs="+", default=["8x256", "16x512"], help="rows x tokens")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--checkpointing", choices=["off", "on", "both"], default="both")
    parser.add_argument("--peak-size", type=int, default=8192, help="square matmul for the peak")
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", help="where to write the JSON (default results/scale[-tag].json)")
    args = parser.parse_args()
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    started = time.perf_counter()
    model = attach_lora(
        build_model(args.shape, device, dtype), RunConfig(model="scale", device=device.type)
    )
    model.train()
    peak = matmul_peak(device, dtype, args.peak_size)
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "shape": args.shape,
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights": str(dtype).removeprefix("torch."),
        "matmul_peak_tflops": round(peak / 1e12, 3),
        "rows": [],
    }
    print(
        f"{out['shape']}: {out['parameters'] / 1e9:.2f}B parameters on {out['device']}, "
        f"matmul peak {out['matmul_peak_tflops']} TFLOP/s",
        flush=True,
    )
    modes = ["off", "on"] if args.checkpointing == "both" else [args.checkpointing]
    for mode in modes:
        if mode == "on":
            enable = getattr(model, "activation_checkpointing_enable", None)  # transformers 5.x
            (enable or model.gradient_checkpointing_enable)({"use_reentrant": False})
        for text in args.shapes:
            rows, tokens = (int(x) for x in text.split("x"))
            try:
                row = measure(model, rows, tokens, device, args.repeats)
            except torch.OutOfMemoryError:
                row = {"rows": rows, "tokens": tokens, "out_of_memory": True}
                torch.cuda.empty_cache()
            row["activation_checkpointing"] = mode == "on"
            if "achieved_tflops" in row:
                row["fraction_of_peak"] = round(
                    row["achieved_tflops"] / out["matmul_peak_tflops"], 3
                )
            out["rows"].append(row)
            print(json.dumps(row), flush=True)
    out["seconds"] = round(time.perf_counter() - started, 1)
    name = f"scale-{args.tag}.json" if args.tag else "scale.json"
    path = Path(args.out) if args.out else RESULTS / name
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
