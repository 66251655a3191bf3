#!/usr/bin/env bash
# One prepared run for a lent GPU machine (no network; its own python3 with CUDA torch):
#   1. the semantic frame encoder release (configs/training/semantic_gpu.yaml: 8000 generated
#      videos rendered on the machine's cores, a 300 s training budget) -> $OUT/semantic.pt,
#      its per-epoch held-out fact accuracy in $OUT/train.log;
#   2. GPU throughput of the served frame encoders (benchmarks/gpu_encoders.py)
#      -> $OUT/gpu_encoders.json.
# About 8 minutes on one H200 with 16 cores. What that machine lacks (pydantic) travels as
# wheels in .whl/ (git-ignored; fetched with `pip download` for its Python). Then, on any
# machine: `vidsearch train text-release --config configs/training/text_release_gpu.yaml`
# trains the text heads on that encoder (CPU, ~20 min).
# Usage: OUT=results-folder [SEMANTIC_CONFIG=...] bash scripts/gpu_release.sh
set -euo pipefail
OUT=${OUT:?set OUT to the results folder}
CONFIG=${SEMANTIC_CONFIG:-configs/training/semantic_gpu.yaml}
WORK=${WORK:-var/gpu_release}
mkdir -p "$OUT" "$WORK"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/vidsearch-site .whl/*.whl
  export PYTHONPATH=/tmp/vidsearch-site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  echo "cores: $(nproc)"; python3 -c 'import torch; print("torch", torch.__version__)'
} > "$OUT/machine.txt" 2>&1

# Each part runs even if the one before failed: a lent machine is not lent twice.
python3 -m vidsearch.training.cli semantic --config "$CONFIG" --out "$WORK" --no-progress \
  2>&1 | tee "$OUT/train.log" || echo "semantic training failed" >&2
if [ -f "$WORK/semantic.pt" ]; then  # the last epoch's checkpoint, without optimizer state
  python3 -c 'import shutil, sys
from vidsearch.training.checkpoint import release_checkpoint
shutil.copyfile(sys.argv[1], sys.argv[2]); release_checkpoint(sys.argv[2])' \
    "$WORK/semantic.pt" "$OUT/semantic.pt"
fi

python3 -m benchmarks.gpu_encoders --checkpoints models/starter --out "$OUT/gpu_encoders.json" \
  2>&1 | tee "$OUT/gpu_encoders.log"
