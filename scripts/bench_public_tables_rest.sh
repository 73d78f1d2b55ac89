#!/usr/bin/env bash
# The ViT and NB201 CIFAR-100 / ImageNet16-120 tables at the smaller settings this session could
# afford on 2 shared cores (B=16 at 224 px for the ViTs; 200 NB201 cells); see
# scripts/bench_public_tables.sh for the variables.
set -euo pipefail
DATA=${DATA:-../shared/data}
C10=${C10:-$HOME/.cache/ntknas/cifar10-jpeg}
C100=${C100:-$HOME/.cache/ntknas/cifar100/cifar100/test}
CACHE=${CACHE:-$HOME/.cache/ntknas/bench}
NTKNAS=${NTKNAS:-ntknas}
mkdir -p "$CACHE"
run() { echo "== $*" >&2; "$NTKNAS" bench table --proxies --seed 0 "$@"; }

run --space autoformer --space-option distillation=true \
  --ground-truth "$DATA/vit/autoformer_dev.csv" --target c100_kd_acc \
  --data "imagefolder:$C100" --batch-size 16 \
  --cache "$CACHE/autoformer_b16.jsonl" --output results/autoformer/dev_c100_kd_b16 >/dev/null
for target in c100_base_acc c100_kd_acc; do
  run --space pit --ground-truth "$DATA/vit/pit_dev.csv" --target "$target" \
    --data "imagefolder:$C100" --batch-size 16 \
    --cache "$CACHE/pit_b16.jsonl" --output "results/pit/dev_${target}_b16" >/dev/null
done
run --space nb201 --ground-truth "$DATA/nb201/nb201_cifar10_dev.csv" --target cifar100_test_acc \
  --n 200 --data "imagefolder:$C100" --batch-size 64 \
  --cache "$CACHE/nb201_c100_b64.jsonl" --output results/nb201/tables_cifar100_test_acc_c100probe_n200_b64 >/dev/null
for target in cifar10_test_acc imagenet16_test_acc; do
  run --space nb201 --ground-truth "$DATA/nb201/nb201_cifar10_dev.csv" --target "$target" \
    --n 200 --data "imagefolder:$C10" --batch-size 64 \
    --cache "$CACHE/nb201_c10_b64.jsonl" --output "results/nb201/tables_${target}_n200_b64" >/dev/null
done
