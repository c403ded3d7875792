#!/usr/bin/env bash
# The one GPU acceptance script (sized for under 8 minutes on one H100/H200, not yet run on one;
# every part has its own time limit, so one that hangs cannot take the rest with it). It writes
# OUT/summary.txt: record it in docs/performance.md.
#   1. versions and measured ceilings (float32, TF32, bf16 matrix products);
#   2. the CUDA tests (captured graph against eager steps under CUDA's sync debug mode);
#   3. every preset's captured step under the sync debug mode ("error": any host read raises);
#   4. the default graphed against eager over 200 steps (weights, EMA, statistics within 1e-4);
#   5. step time at batch 64/128/256/512 in fp32 and bf16;
#   6. the default for 25 epochs as a whole command (target: loop <= 15 s, command <= 30 s), and
#      the share of each epoch its evaluation takes (target < 10 %);
#   7. 2 epochs with torch.compile on top of the graph (not slower than graphs alone);
#   8. every preset for 2 epochs with graphs on (folder presets on MNIST as a folder);
#   9. the throughput script;
#  10. runs together: 16 seeds of the default stacked (target >= 400,000 img/s in all), and the
#      course's six configurations x 3 seeds at 25 epochs as one `sweep --together` (target <= 3 min).
# From the source tree, with the machine's own torch:
#   PYTHONPATH=src bash benchmarks/gpu_check.sh [OUT_DIR]     (default runs/gpu-check)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${1:-runs/gpu-check}
DEVICE=${GPU_CHECK_DEVICE:-cuda}  # cpu: a dry run of the script itself (the test suite's)
rm -rf "$OUT"; mkdir -p "$OUT"
export GANFORGE_CACHE="$OUT/cache" GANFORGE_OFFLINE=1
export PYTHONPATH="$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

# part NAME SECONDS COMMAND...: run it with a time limit, keep its log, add its result lines
# (those starting with a known word) to the summary.
part() {
  local name=$1 limit=$2; shift 2
  echo "== $name"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local status=$?
  grep -E '^(torch|matmul|sync|graphed|step|preset|together|[0-9]+ (passed|failed|skipped)|FAILED|mnist|  +ganforge)' \
    "$OUT/$name.log" | sed "s/^/$name: /" | tee -a "$SUMMARY"
  [ "$status" -eq 0 ] || echo "$name: exit $status$([ "$status" -eq 124 ] && echo " (timed out after $limit s)")" \
    | tee -a "$SUMMARY"
}

# GPU_CHECK_QUICK=1 (toy sizes) and GPU_CHECK_PRESETS="a b" (fewer presets): the dry run's.
# shellcheck disable=SC2206
OPTIONS=(--device "$DEVICE" --out "$OUT" ${GPU_CHECK_QUICK:+--quick} ${GPU_CHECK_PRESETS:+--presets $GPU_CHECK_PRESETS})

part ceilings 60 "$PY" benchmarks/gpu_check.py ceilings "${OPTIONS[@]}"
part tests 180 "$PY" -m pytest -p no:cacheprovider tests/ops/test_cuda_graph.py -rs
part sync 180 "$PY" benchmarks/gpu_check.py sync "${OPTIONS[@]}"
part agreement 120 "$PY" benchmarks/gpu_check.py agreement "${OPTIONS[@]}"
part steps 180 "$PY" benchmarks/gpu_check.py steps "${OPTIONS[@]}"

# 6. The default as a user runs it, whole command timed.
epochs=${GPU_CHECK_EPOCHS:-25}
started=$(date +%s.%N)
timeout 300 "$PY" -m ganforge train --preset mnist-dcgan --epochs "$epochs" --device "$DEVICE" \
  --out "$OUT/default" ${GPU_CHECK_QUICK:+--set data.limit=512} > "$OUT/default.log" 2>&1
status=$?
finished=$(date +%s.%N)
"$PY" - "$OUT/default" "$started" "$finished" "$status" <<'PY' | sed 's/^/default: /' | tee -a "$SUMMARY"
import json, sys
run, status = sys.argv[1], int(sys.argv[4])
wall = float(sys.argv[3]) - float(sys.argv[2])
try:
    records = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
except OSError:
    records = []
epochs = [r for r in records if r["event"] == "epoch"]
evals = [r for r in records if r["event"] == "eval"]
if not epochs:
    print(f"exit {status}; no epochs recorded (see {run}.log)")
else:
    loop = sum(r["seconds"] for r in epochs)
    rates = sorted(r["images_per_s"] for r in epochs)
    evaluation = sum(r["seconds"] for r in evals)
    print(f"exit {status}; whole command {wall:.1f} s, training loop {loop:.1f} s over {len(epochs)} "
          f"epochs (median {rates[len(rates) // 2]:,.0f} img/s); evaluation {evaluation:.1f} s in all "
          f"= {evaluation / loop:.1%} of the loop; last FID {evals[-1]['fid']:.2f}"
          if evals else f"exit {status}; loop {loop:.1f} s, no evaluation")
PY

# 7. compile on top of the graph against graphs alone (epoch 2: epoch 1 holds the compilation;
# inductor's C++ build on a CPU takes minutes, so a CPU dry run leaves this out).
[ "$DEVICE" = cpu ] && echo "compile: left out on the CPU" | tee -a "$SUMMARY" || {
timeout 300 "$PY" -m ganforge train --preset mnist-dcgan --epochs 2 --device "$DEVICE" \
  --out "$OUT/compile" --set train.compile=default ${GPU_CHECK_QUICK:+--set data.limit=512} \
  > "$OUT/compile.log" 2>&1
status=$?
"$PY" - "$OUT/compile" "$OUT/default" "$status" <<'PY' | sed 's/^/compile: /' | tee -a "$SUMMARY"
import json, sys
def epochs(run):
    try:
        return [r for r in map(json.loads, open(f"{run}/metrics.jsonl")) if r["event"] == "epoch"]
    except OSError:
        return []
compiled, graphs = epochs(sys.argv[1]), epochs(sys.argv[2])
if len(compiled) < 2 or len(graphs) < 2:
    print(f"exit {sys.argv[3]}; fewer than 2 epochs recorded (see {sys.argv[1]}.log)")
else:
    print(f"exit {sys.argv[3]}; epoch 1 (compiling) {compiled[0]['seconds']:.1f} s; epoch 2 "
          f"{compiled[1]['images_per_s']:,.0f} img/s against graphs alone "
          f"{graphs[1]['images_per_s']:,.0f} img/s (x{compiled[1]['images_per_s'] / graphs[1]['images_per_s']:.2f})")
PY
}

part presets 420 "$PY" benchmarks/gpu_check.py presets "${OPTIONS[@]}"
part throughput 180 "$PY" benchmarks/throughput.py --device "$DEVICE" --preset mnist-dcgan \
  ${GPU_CHECK_QUICK:+--steps 3 --rounds 1 --warmup 1 --limit 512}

if [ -n "${GPU_CHECK_QUICK:-}" ]; then SIZE=(--runs 2 --steps 4 --rounds 1); else SIZE=(--runs 16 --steps 200 --rounds 2); fi
part together 240 "$PY" benchmarks/together.py --device "$DEVICE" --preset mnist-dcgan "${SIZE[@]}"

# 10b. The course sweep with seeds, every run at once, whole command timed (its 18 evaluations
# of 5,000 samples too; the quick dry run leaves it out: tests/test_sweep.py trains sweeps together).
[ -n "${GPU_CHECK_QUICK:-}" ] && echo "course: left out in the quick run" | tee -a "$SUMMARY" || {
started=$(date +%s)
timeout 420 "$PY" -m ganforge sweep sweeps/course-hparams.yaml --together --device "$DEVICE" \
  --out "$OUT/course" > "$OUT/course.log" 2>&1
status=$?
echo "course: exit $status; 6 configurations x 3 seeds together in $(( $(date +%s) - started )) s" \
  "(target <= 180 s at 25 epochs); $(grep -m1 'runs together' "$OUT/course/logs/together.log" 2>/dev/null)" \
  | tee -a "$SUMMARY"
}

echo
echo "== summary ($SUMMARY)"
cat "$SUMMARY"
