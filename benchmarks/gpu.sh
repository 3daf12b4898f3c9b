#!/usr/bin/env bash
# The GPU checks of issues 5, 11 and 14, for the lent GPU machine (the `device` tool), within
# 8 minutes (each step has its own timeout, so a slow one cannot eat the others' time):
#   1. speed (benchmarks/speed.py, ~90 s): a step of every method on the embedded model and on
#      SmolLM2-135M; issue 14's target is an NPO + CLReg SmolLM2 step 5x faster than 360 ms;
#   2. scale (benchmarks/scale.py, ~150 s): an NPO + CLReg LoRA step on a Llama-3.1-8B-shaped
#      model in bf16 at 8x256 and 16x512 tokens, with and without activation checkpointing:
#      tokens/s, peak memory, fraction of the measured matmul peak (goal >= 30%);
#   3. a SmolLM2-shaped run through the CLI (~40 s): SmolLM2's default settings, 30 steps,
#      evaluations included, timed end to end (issue 14's goal: a default run in <= 10 s);
#   4. the claims grid on the embedded model (benchmarks/claims.py, ~200 s) with the learning
#      rates of results/claims_tuning-gpu.json (TUNE=--tune bash benchmarks/gpu.sh tunes them).
# The SmolLM2 and 8B weights cannot travel (64 MiB a call), so models built from their configs
# with random weights stand in: they time the same. Before the call, copy the SmolLM2 config and
# tokenizer (everything but the weights) from ~/.cache/clreg-lab/smollm2-135m-instruct/ to
# .gpu_carry/smollm2-config/ and name .gpu_carry in the call's carry list. Results land in
# benchmarks/results/*-gpu.json, BENCHMARKS.md and benchmarks/figures/, and are copied to $OUT
# when it is set, also when a step runs out of time.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
started=$(date +%s)
lap() { echo "$1: $(( $(date +%s) - started )) s"; }
timeout 100 python3 benchmarks/speed.py --device cuda --tag gpu \
    --smollm2-from .gpu_carry/smollm2-config || echo "speed stopped ($?)"
lap speed
timeout 160 python3 benchmarks/scale.py --device cuda --tag gpu || echo "scale stopped ($?)"
lap scale
timeout 60 python3 - <<'PY' || echo "random SmolLM2 not built ($?)"
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
src, dst = ".gpu_carry/smollm2-config", "/tmp/smollm2-random"
torch.manual_seed(0)
AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(src)).save_pretrained(dst)
AutoTokenizer.from_pretrained(src).save_pretrained(dst)
PY
run_started=$(date +%s)
timeout 90 python3 -m clreg_core run --model /tmp/smollm2-random --task pack:chemical_elements \
    --steps 30 --stop-at steps --out /tmp/smollm2-run > /tmp/smollm2-run.log 2>&1 \
    || echo "SmolLM2-shaped run stopped ($?)"
echo "SmolLM2-shaped run, whole process: $(( $(date +%s) - run_started )) s"
python3 -c "import json; t = json.load(open('/tmp/smollm2-run/report.json'))['timing']; \
print('SmolLM2-shaped run timing:', json.dumps(t))" || tail -5 /tmp/smollm2-run.log
lap run
timeout 200 python3 benchmarks/claims.py --device cuda --workers 16 --threads 1 --tag gpu \
    ${TUNE:-} || echo "claims stopped ($?)"
lap total
if [ -n "${OUT:-}" ]; then
    cp BENCHMARKS.md benchmarks/results/*-gpu.json "$OUT"/ 2>/dev/null
    cp benchmarks/figures/*-gpu.png "$OUT"/ 2>/dev/null
    cp /tmp/smollm2-run/report.json "$OUT"/smollm2-shaped-run-gpu.json 2>/dev/null
fi
true
