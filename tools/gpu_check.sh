#!/usr/bin/env bash
# The one prepared GPU run for the engine and speed targets: correctness on the GPU first, then
# the engine against one training step, then end-to-end throughput; a short table last.
#
# Needs one CUDA GPU and PyTorch (+ numpy, scipy, pyyaml, tqdm; Optuna for section 5, which is
# skipped without it); nothing is installed and nothing is downloaded (data are synthetic). From
# the repository root:
#
#     OUT=results/speed bash tools/gpu_check.sh
#
# About 3-5 minutes on an H200. Exit status: that of the correctness check (1 = a kernel off).
set -uo pipefail
OUT=${OUT:-results/speed}
PY=${PYTHON:-python3}
N=${N:-500}
NREF=${NREF:-50}         # cells for the per-architecture training-step reference
DEVICE=${DEVICE:-cuda}      # DEVICE=cpu BATCH=4 N=3 REPEATS=1 SPACES=cnn TRAIN_N=4 TRAIN_IMAGES=64: a smoke run
BATCH=${BATCH:-64}
REPEATS=${REPEATS:-10}
SPACES=${SPACES:-nb201,resnet,vit,cnn}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())" || exit 2

echo "== 1. correctness on the GPU (every implementation x kernel x bn, 4 spaces)"
$PY -m ntknas.bench.device_check --device "$DEVICE" --batch-size 4 --spaces "$SPACES" \
    --output "$OUT/gpu_device_check"
check=$?

echo "== 2. engine vs one training step (NB201, B=$BATCH)"
$PY -m ntknas.cli bench speed --space nb201 --batch-size "$BATCH" --device "$DEVICE" --repeats "$REPEATS" \
    --output "$OUT/gpu_nb201_b64"

echo "== 3. end-to-end throughput ($N distinct NB201 cells, B=$BATCH): a kernel score (log_cond, sum/frozen)"
$PY -m ntknas.cli bench throughput --space nb201 --n "$N" --batch-size "$BATCH" --device "$DEVICE" \
    --score log_cond --no-train-reference --output "$OUT/gpu_throughput_nb201_b64"
echo "== 3b. end-to-end throughput of the default score (no kernel pass)"
$PY -m ntknas.cli bench throughput --space nb201 --n "$N" --batch-size "$BATCH" --device "$DEVICE" \
    --no-train-reference --output "$OUT/gpu_throughput_default_nb201_b64"

echo "== 4. scoring vs one training step per architecture, time and peak memory ($NREF cells)"
$PY -m ntknas.cli bench throughput --space nb201 --n "$NREF" --batch-size "$BATCH" --device "$DEVICE" \
    --score log_cond --output "$OUT/gpu_throughput_nb201_b64_reference"

echo "== 5. short training on the GPU: float32/bfloat16 x NCHW/channels-last, 1/2/4 processes at once"
$PY -c "import optuna" 2>/dev/null && for space in nb201 nbmacro; do
    $PY -m ntknas.cli bench training --space $space --n "${TRAIN_N:-12}" --images "${TRAIN_IMAGES:-4096}" --device "$DEVICE" \
        --workers 1 2 4 --output "$OUT/gpu_training_$space"
done

echo "== summary"
$PY - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
def load(name):
    p = out / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None

check, speed, tp = load("gpu_device_check"), load("gpu_nb201_b64"), load("gpu_throughput_nb201_b64")
default_tp = load("gpu_throughput_default_nb201_b64")
ref = (load("gpu_throughput_nb201_b64_reference") or {}).get("train_reference")
rows = []
if check:
    rows.append(("correctness: worst float64 / float32 rel. error",
                 f"{check['worst_float64']:.1e} / {check['worst_float32']:.1e}",
                 "passed" if check["passed"] else "FAILED"))
if speed:
    rows.append(("one training step (ms)", f"{1e3 * speed['train_step_seconds']:.2f}", ""))
    for name, m in speed["methods"].items():
        target = {"hooks:sum:frozen": "<= 2x", "func:sum:frozen": "<= 2x"}.get(name, "")
        peak = m.get("peak_ratio_to_train_step")
        peak = f", peak mem x{peak:.2f}" if peak else ""
        rows.append((f"  {name} (x train step{peak})", f"{m['ratio_to_train_step']:.2f}", target))
    t = speed["methods"].get("tenas_loop"); a = speed["methods"].get("autograd:sum:batch")
    if t and a:
        rows.append(("  TE-NAS loop / autograd:sum:batch", f"{t['seconds'] / a['seconds']:.2f}", ">= 2.5"))
if tp:
    rows.append(("throughput, kernel score log_cond (archs/s)", f"{tp['archs_per_second']:.1f}", ">= 50"))
if default_tp:
    rows.append(("throughput, default score (archs/s)", f"{default_tp['archs_per_second']:.1f}", ">= 200"))
    rows.append(("peak memory (MiB)", f"{tp['peak_memory_bytes'] / 2**20:.0f}", ""))
if ref:
    rows.append(("scoring / training step, median per arch: time", f"{ref['median_time_ratio']:.2f}", "<= 2x"))
    if ref.get("median_peak_memory_ratio"):
        rows.append(("scoring / training step, median per arch: peak memory",
                     f"{ref['median_peak_memory_ratio']:.2f}", "<= 2x"))
for space in ("nb201", "nbmacro"):
    tr = load(f"gpu_training_{space}")
    if not tr:
        continue
    for name, f in tr["formats"].items():
        rows.append((f"training {space}: {name} (x float32 NCHW)", f"{f['median_ratio']:.2f}", ""))
    one = tr["workers"].get("1", {}).get("networks_per_minute")
    for count, w in tr["workers"].items():
        rows.append((f"training {space}: {count} processes (networks/min)",
                     f"{w['networks_per_minute']:.1f}", f"x{w['networks_per_minute'] / one:.2f}" if one else ""))
for k, v, t in rows:
    print(f"{k:<52} {v:>16} {t}")
PYEOF
exit $check
