#!/bin/bash
# One device call: bitsandbytes jobs (QLoRA, 8-bit AdamW) in their own process first, so a crash there cannot take
# the rest down; then the plain transformers/PEFT jobs with whatever time is left. Rows are flushed as they come.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
PY=${PY:-python3}
SCALE=${SCALE:-full}
BUDGET=${BUDGET:-440}
D=$(cd "$(dirname "$0")" && pwd)
cd "$D" || exit 1
mkdir -p "$OUT/bnb" "$OUT/more"
{ date -u; uname -a; nvidia-smi; nvidia-smi --query-gpu=name,memory.used,memory.total,driver_version --format=csv;
  PYTHONPATH=$D/bnbsite $PY -c "import torch,transformers,peft,accelerate,bitsandbytes as b;print(torch.__version__,torch.version.cuda,transformers.__version__,peft.__version__,accelerate.__version__,b.__version__)"; } > "$OUT/env.txt" 2>&1
tail -3 "$OUT/env.txt"
echo "== bnb start at ${SECONDS}s"
PYTHONPATH=$D/bnbsite timeout -k 5 ${BNB_LIMIT:-170} $PY measure_gpu.py --plan measure_gpu_plan_bnb.json \
  --configs measure_gpu_configs.json --out "$OUT/bnb" --deadline ${BNB_DEADLINE:-125} --scale $SCALE > "$OUT/bnb.log" 2>&1
echo "== bnb rc=$? at ${SECONDS}s"; grep -E '^\[' "$OUT/bnb.log" | cut -c1-220
REM=$((BUDGET - SECONDS))
echo "== more start at ${SECONDS}s, limit ${REM}s"
timeout -k 5 $REM $PY measure_gpu.py --plan measure_gpu_plan_more.json --configs measure_gpu_configs.json \
  --out "$OUT/more" --deadline $((REM - 40)) --scale $SCALE > "$OUT/more.log" 2>&1
echo "== more rc=$? at ${SECONDS}s"; grep -E '^\[' "$OUT/more.log" | cut -c1-220
