#!/usr/bin/env bash
# Issue #18's cost budget: the default score of one network against one training step of that
# network at the same batch (forward + cross-entropy + backward), side by side per network
# (`bench throughput`'s train reference), on every benchmark space.
#   C10=~/.cache/ntknas/cifar10-jpeg C100=~/.cache/ntknas/cifar100/cifar100/test \
#     bash scripts/cost_default_score.sh [SCORE]
set -euo pipefail
SCORE=${1:-ntk-agg-v6}
C10=${C10:-$HOME/.cache/ntknas/cifar10-jpeg}
C100=${C100:-$HOME/.cache/ntknas/cifar100/cifar100/test}
NTKNAS=${NTKNAS:-ntknas}
OUT=${OUT:-results/cross_space}
run() { echo "== $*" >&2; "$NTKNAS" bench throughput --score "$SCORE" "$@" >/dev/null; }
for space in nb201 nbmacro nb101; do
  run --space "$space" --n 8 --batch-size 64 --data "imagefolder:$C10" --output "$OUT/cost_${space}_b64"
done
for space in autoformer pit; do
  run --space "$space" --n 4 --batch-size 16 --data "imagefolder:$C100" --output "$OUT/cost_${space}_b16"
done
