#!/usr/bin/env bash
# Issue 5's GPU check, for the lent GPU machine (the `device` tool), within 8 minutes:
#   1. the claims grid on the embedded model, learning rates tuned first (benchmarks/claims.py);
#   2. the speed benchmark on the embedded model and SmolLM2-135M (benchmarks/speed.py); the
#      SmolLM2 weights (540 MB) cannot travel, so a model built from its config and tokenizer
#      with random weights stands in: it times the same.
# Before the call, copy the SmolLM2 config and tokenizer (everything but the weights) from
# ~/.cache/clreg-lab/smollm2-135m-instruct/ to .gpu_carry/smollm2-config/ and name .gpu_carry
# in the call's carry list. Results land in benchmarks/results/*-gpu.json, BENCHMARKS.md and
# benchmarks/figures/, and are copied to $OUT when it is set.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
started=$(date +%s)
timeout 300 python3 benchmarks/claims.py --device cuda --workers 12 --threads 1 --tag gpu --tune
echo "claims: $(( $(date +%s) - started )) s"
timeout 150 python3 benchmarks/speed.py --device cuda --tag gpu \
    --smollm2-from .gpu_carry/smollm2-config
echo "total: $(( $(date +%s) - started )) s"
if [ -n "${OUT:-}" ]; then
    cp BENCHMARKS.md benchmarks/results/*-gpu.json "$OUT"/
    cp benchmarks/figures/*-gpu.png "$OUT"/ 2>/dev/null || true
fi
