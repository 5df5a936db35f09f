#!/bin/bash
# Second call: the rows whose job started with tensors an earlier job had left in the process, each job now in a
# fresh process (nothing to subtract), to check the subtraction the first call (and the shared rows) relied on.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
PY=${PY:-python3}; SCALE=${SCALE:-full}
D=$(cd "$(dirname "$0")" && pwd); cd "$D" || exit 1
mkdir -p "$OUT/rerun"
for p in rerun_*.json; do
  [ $SECONDS -gt 230 ] && { echo "skip $p (time)"; continue; }
  echo "== $p at ${SECONDS}s"
  PYTHONPATH=$D/bnbsite timeout -k 5 60 $PY measure_gpu.py --plan $p --configs measure_gpu_configs.json \
    --out "$OUT/rerun" --deadline 40 --scale $SCALE >> "$OUT/rerun.log" 2>&1
  echo "rc=$?"; grep -E '^\[' "$OUT/rerun.log" | grep -v ' env ' | tail -4 | cut -c1-200
done
echo "== done at ${SECONDS}s"
