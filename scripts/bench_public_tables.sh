#!/usr/bin/env bash
# The results/<space>/ tables of the public benchmark spaces: every metric, #params, FLOPs,
# synflow and the tables' NASLib columns against the dev tables of ../shared/data.
#   DATA=../shared/data C10=~/.cache/ntknas/cifar10-jpeg C100=~/.cache/ntknas/cifar100/cifar100/test \
#     bash scripts/bench_public_tables.sh
# (C10: the extracted CIFAR-10 JPEG tree; C100: the extracted CIFAR-100 test tree.)
set -euo pipefail
DATA=${DATA:-../shared/data}
C10=${C10:-$HOME/.cache/ntknas/cifar10-jpeg}
C100=${C100:-$HOME/.cache/ntknas/cifar100/cifar100/test}
CACHE=${CACHE:-$HOME/.cache/ntknas/bench}
NTKNAS=${NTKNAS:-ntknas}
mkdir -p "$CACHE"
run() { echo "== $*" >&2; "$NTKNAS" bench table --proxies --seed 0 "$@"; }

run --space nbmacro --ground-truth "$DATA/nbmacro/nbmacro_cifar10_dev.csv" \
  --target cifar10_test_acc --n 600 --data "imagefolder:$C10" --batch-size 64 \
  --cache "$CACHE/nbmacro_b64.jsonl" --output results/nbmacro/dev_n600_b64 >/dev/null
run --space nb101 --ground-truth "$DATA/nb101/nb101_cifar10_dev.csv" \
  --target cifar10_val_acc --data "imagefolder:$C10" --batch-size 64 \
  --cache "$CACHE/nb101_b64.jsonl" --output results/nb101/dev_b64 >/dev/null
run --space autoformer --space-option distillation=true \
  --ground-truth "$DATA/vit/autoformer_dev.csv" --target c100_kd_acc \
  --data "imagefolder:$C100" --batch-size 32 \
  --cache "$CACHE/autoformer_b32.jsonl" --output results/autoformer/dev_c100_kd_b32 >/dev/null
for target in c100_base_acc c100_kd_acc; do
  run --space pit --ground-truth "$DATA/vit/pit_dev.csv" --target "$target" \
    --data "imagefolder:$C100" --batch-size 32 \
    --cache "$CACHE/pit_b32.jsonl" --output "results/pit/dev_${target}_b32" >/dev/null
done
for target in cifar10_test_acc imagenet16_test_acc; do
  run --space nb201 --ground-truth "$DATA/nb201/nb201_cifar10_dev.csv" --target "$target" \
    --n 300 --data "imagefolder:$C10" --batch-size 64 \
    --cache "$CACHE/nb201_c10_b64.jsonl" --output "results/nb201/tables_${target}_n300_b64" >/dev/null
done
run --space nb201 --ground-truth "$DATA/nb201/nb201_cifar10_dev.csv" --target cifar100_test_acc \
  --n 300 --data "imagefolder:$C100" --batch-size 64 \
  --cache "$CACHE/nb201_c100_b64.jsonl" --output results/nb201/tables_cifar100_test_acc_c100probe_n300_b64 >/dev/null
