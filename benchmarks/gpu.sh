#!/usr/bin/env bash
# Issue 5's GPU check, for the lent GPU machine (the `device` tool), within 8 minutes:
#   1. the speed benchmark on the embedded model and SmolLM2-135M (benchmarks/speed.py); the
#      SmolLM2 weights (540 MB) cannot travel, so a model built from its config and tokenizer
#      with random weights stands in: it times the same;
#   2. the claims grid on the embedded model (benchmarks/claims.py) with the learning rates of
#      results/claims_tuning-gpu.json (TUNE=--tune bash benchmarks/gpu.sh tunes them first).
# Before the call, copy the SmolLM2 config and tokenizer (everything but the weights) from
# ~/.cache/clreg-lab/smollm2-135m-instruct/ to .gpu_carry/smollm2-config/ and name .gpu_carry
# in the call's carry list. Results land in benchmarks/results/*-gpu.json, BENCHMARKS.md and
# benchmarks/figures/, and are copied to $OUT when it is set, also when a step runs out of time.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
started=$(date +%s)
timeout 100 python3 benchmarks/speed.py --device cuda --tag gpu \
    --smollm2-from .gpu_carry/smollm2-config || echo "speed stopped ($?)"
echo "speed: $(( $(date +%s) - started )) s"
timeout 300 python3 benchmarks/claims.py --device cuda --workers 16 --threads 1 --tag gpu \
    ${TUNE:-} || echo "claims stopped ($?)"
echo "total: $(( $(date +%s) - started )) s"
if [ -n "${OUT:-}" ]; then
    cp BENCHMARKS.md benchmarks/results/*-gpu.json "$OUT"/ 2>/dev/null
    cp benchmarks/figures/*-gpu.png "$OUT"/ 2>/dev/null
fi
true
