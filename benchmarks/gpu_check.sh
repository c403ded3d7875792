#!/usr/bin/env bash
# Everything a lent GPU should prove, in one go (under 8 minutes on one H100/H200):
#   1. the CUDA tests: CUDA-graph capture + replay and capturable Adam against eager steps;
#   2. 25 epochs of the default preset, timed as the whole command and as the training loop;
#   3. the preset table at 3 epochs (FID, precision, recall, classes on 10,000 samples).
# Prints one summary at the end; record it in docs/performance.md.
#   bash benchmarks/gpu_check.sh [OUT_DIR]     (default runs/gpu-check)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${1:-runs/gpu-check}
rm -rf "$OUT"; mkdir -p "$OUT"
export GANFORGE_CACHE="$OUT/cache"

"$PY" - <<'PY' | tee "$OUT/device.txt"
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO GPU'}")
PY

echo "== 1. CUDA tests"
"$PY" -m pytest -q -p no:cacheprovider tests/test_cuda_graph.py -rs 2>&1 | tail -n 5 | tee "$OUT/tests.txt"

echo "== 2. 25 epochs of mnist-dcgan"
started=$(date +%s.%N)
"$PY" -m ganforge train --preset mnist-dcgan --epochs 25 --device cuda --out "$OUT/dcgan-25" \
  > "$OUT/dcgan-25.log" 2>&1
status=$?
finished=$(date +%s.%N)
"$PY" - "$OUT/dcgan-25" "$started" "$finished" "$status" <<'PY' | tee "$OUT/dcgan-25.txt"
import json, sys
run, status = sys.argv[1], int(sys.argv[4])
wall = float(sys.argv[3]) - float(sys.argv[2])
records = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
epochs = [r for r in records if r["event"] == "epoch"]
evals = [r for r in records if r["event"] == "eval"]
loop = sum(r["seconds"] for r in epochs)
print(f"exit {status}; whole command {wall:.1f} s, training loop {loop:.1f} s over {len(epochs)} epochs "
      f"(median {sorted(r['images_per_s'] for r in epochs)[len(epochs) // 2]:,.0f} img/s); "
      f"last FID during training {evals[-1]['fid']:.2f} on {evals[-1].get('samples', '?')} samples"
      if epochs and evals else f"exit {status}; no epochs recorded (see {run}.log)")
PY

echo "== 3. preset table, 3 epochs"
"$PY" benchmarks/preset_fids.py --epochs 3 --device cuda --out "$OUT/presets" 2>&1 | tee "$OUT/presets.md"

echo
echo "== summary"
cat "$OUT/device.txt"
echo "CUDA tests: $(tail -n 1 "$OUT/tests.txt")"
echo "mnist-dcgan 25 epochs: $(cat "$OUT/dcgan-25.txt")"
cat "$OUT/presets.md"
