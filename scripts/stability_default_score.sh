#!/usr/bin/env bash
# Issue #18: how much of the default score's ranking is noise, on every space (label-free:
# random architectures of each space, no accuracy read). Two processes, one thread each.
# Usage: scripts/stability_default_score.sh [CIFAR10_DIR] [CIFAR100_DIR]
set -euo pipefail
C10=${1:-$HOME/.cache/ntknas/cifar10-jpeg}
C100=${2:-$HOME/.cache/ntknas/cifar100/cifar100/test}
OUT=results/cross_space
M=ntk-agg-v6,feature_group_decorrelation,backward_group_decorrelation,naswot,feature_decorrelation
export OMP_NUM_THREADS=1
run() {  # space n batch data vary [space options...]
  local space=$1 n=$2 b=$3 data=$4 vary=$5; shift 5
  ntknas bench stability --space "$space" --n "$n" --inits 3 --vary "$vary" --batch-size "$b" \
    --metrics "$M" --data "imagefolder:$data" "$@" --output "$OUT/stability_${space}_${vary}" \
    > /dev/null 2>&1
}
(for v in init probe; do run nb201 100 64 "$C10" $v; run nb101 100 64 "$C10" $v; done) &
(for v in init probe; do
  run nbmacro 100 64 "$C10" $v
  run autoformer 60 16 "$C100" $v --space-option distillation=true
  run pit 40 16 "$C100" $v
done) &
wait
cat "$OUT"/stability_*.md
