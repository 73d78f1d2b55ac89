#!/usr/bin/env bash
# One lent GPU session: the engine checks of tools/gpu_check.sh, then NAS-Bench-201's whole
# table scored on the GPU with the default settings of the seed-0 CPU runs (B=64, 64 held-out
# images, probe signals), split over parallel processes with one cache each. Everything is packed
# into $OUT/gpu_session.tar.gz (the device tool brings back at most 8 files).
#
# Prepared here (the table and the probe images travel in the ignored folder .gpu/):
#
#     mkdir -p .gpu && cp ../shared/data/nb201/nb201_cifar10_dev.csv .gpu/
#     python scripts/pack_probe_images.py pack ~/.cache/ntknas/cifar10-jpeg .gpu/probe \
#         --batch-size 64 --heldout 64 --seed 0
#
# and run there from the repository root: OUT=... bash tools/gpu_session.sh
set -u
OUT=${OUT:?set OUT}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
CHECK_SECONDS=${CHECK_SECONDS:-210}
TABLE_SECONDS=${TABLE_SECONDS:-260}
SHARDS=${SHARDS:-6}
N=${N:-5000}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
work=$OUT/session
mkdir -p "$work/check" "$work/nb201"
start=$(date +%s)
$PY scripts/pack_probe_images.py unpack .gpu/probe /tmp/cifar10-probe || exit 2
echo "probe images unpacked after $(( $(date +%s) - start )) s"

echo "== engine checks (tools/gpu_check.sh, at most $CHECK_SECONDS s)"
OUT=$work/check DEVICE=$DEVICE N=${CHECK_N:-300} NREF=${CHECK_NREF:-30} \
    timeout "$CHECK_SECONDS" bash tools/gpu_check.sh >"$work/check/log.txt" 2>&1
echo "gpu_check exit $? after $(( $(date +%s) - start )) s"
tail -n 20 "$work/check/log.txt"

echo "== NAS-Bench-201 table on $DEVICE: $SHARDS processes, at most $TABLE_SECONDS s"
for ((i = 0; i < SHARDS; i++)); do
    OMP_NUM_THREADS=2 timeout "$TABLE_SECONDS" $PY -m ntknas.cli bench nb201 \
        --ground-truth .gpu/nb201_cifar10_dev.csv --target cifar10_test_acc --n "$N" --seed 0 \
        --data imagefolder:/tmp/cifar10-probe --batch-size 64 --heldout 64 --proxies \
        --device "$DEVICE" --shard "$i/$SHARDS" --cache "$work/nb201/cache_$i.jsonl" \
        --output "$work/nb201/shard_$i" >"$work/nb201/log_$i.txt" 2>&1 &
done
wait
echo "table runs ended after $(( $(date +%s) - start )) s"
cat "$work"/nb201/cache_*.jsonl 2>/dev/null | wc -l
tail -c 600 "$work/nb201/log_0.txt"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader 2>/dev/null
tar czf "$OUT/gpu_session.tar.gz" -C "$OUT" session && rm -rf "$work"
ls -la "$OUT"
