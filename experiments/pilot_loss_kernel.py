"""Pilot: does the kernel of per-sample *loss* gradients rank NAS-Bench-201 better than the NTK?

The sum kernel contracts the Jacobian with the all-ones output direction. Under cross-entropy,
training moves along the per-sample loss gradients g_i = J_iᵀ r_i with r_i = softmax(f(x_i)) − y_i,
so their kernel K[i, j] = <g_i, g_j> = r_iᵀ Θ_ij r_j is the label-aware kernel that drives the
first step. This script computes, for the first ``--first`` architectures of the seeded benchmark
sample (``ntknas bench nb201 --n 1000 --seed 0``, same probe images), the per-layer cosine λmin
(``layer_lambda_min_cosine``) and the whole-kernel cosine λmin of both kernels, and the loss
kernel's gradient coherence 1ᵀK1 / (B trK). The loss kernel is the sum kernel of a wrapper whose
single output is Σ_c r_ic f_c(x_i) with r held constant (hooks implementation, ``bn="frozen"``:
samples are independent, so the wrapper's batch output is exactly the per-sample contraction).

Not part of the package: an experiment, kept so that its figures in results/nb201/README.md can be
reproduced::

    for i in 0 1; do OMP_NUM_THREADS=1 python experiments/pilot_loss_kernel.py \\
        --ground-truth ../shared/data/nb201/nb201_cifar10_dev.csv \\
        --data imagefolder:$HOME/.cache/ntknas/cifar10-jpeg --first 300 --shard $i/2 \\
        --output /tmp/loss_kernel_$i.jsonl & done; wait
    python experiments/pilot_loss_kernel.py --ground-truth ../shared/data/nb201/nb201_cifar10_dev.csv \\
        --report /tmp/loss_kernel_0.jsonl /tmp/loss_kernel_1.jsonl
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch
from _pilot import pilot_arguments, score_pilot_cells
from scipy.stats import kendalltau, spearmanr
from torch import nn

import search_spaces
from ntknas import layerwise_ntk
from ntknas.bench.nb201 import read_ground_truth
from ntknas.ntk import logits_of
from ntknas.proxies import layer_gradient_decorrelation
from ntknas.scorer import NTKScorer
from ntknas.spectral import cosine_lambda_min

SIGNALS = ("sum_layer", "sum_whole", "loss_layer", "loss_whole", "loss_coherence")


class LossDirection(nn.Module):
    """One output per sample: Σ_c r_ic f_c(x_i), with the residuals r a constant buffer."""

    def __init__(self, model: nn.Module, residuals: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("residuals", residuals)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (logits_of(self.model(x)) * self.residuals).sum(1, keepdim=True)


def score(scorer: NTKScorer, space: search_spaces.SearchSpace, arch: str) -> dict[str, float]:
    x, y = scorer.probe
    started = time.perf_counter()
    model = scorer.build(space, arch)
    layers = layerwise_ntk(model, x, kernel="sum", bn="frozen", implementation="hooks")
    out = {
        "sum_layer": layer_gradient_decorrelation(layers, model),
        "sum_whole": float(cosine_lambda_min(sum(layers.values()).double())),
    }
    middle = time.perf_counter()
    model.train()  # batch statistics, as bn="frozen"; running statistics are not used after
    with torch.no_grad():
        p = torch.softmax(logits_of(model(x)), 1)
    wrapped = LossDirection(model, p - nn.functional.one_hot(y, p.shape[1]).to(p.dtype))
    layers = layerwise_ntk(wrapped, x, kernel="sum", bn="frozen", implementation="hooks")
    kernel = sum(layers.values()).double()
    out["loss_layer"] = layer_gradient_decorrelation(layers, wrapped)
    out["loss_whole"] = float(cosine_lambda_min(kernel))
    out["loss_coherence"] = float(kernel.sum() / (kernel.shape[0] * kernel.trace()))
    out["seconds_sum"], out["seconds_loss"] = middle - started, time.perf_counter() - middle
    return out


def main() -> None:
    args = pilot_arguments(__doc__.splitlines()[0]).parse_args()
    if not args.report:
        score_pilot_cells(args, score)
        return
    accuracy = dict(read_ground_truth(args.ground_truth, args.target))
    rows = [json.loads(line) for f in args.report for line in Path(f).read_text().splitlines()]
    truth = [accuracy[r["arch"]] for r in rows]
    print(f"{len(rows)} connected architectures")
    for name in SIGNALS:
        values = [r[name] for r in rows]
        tau, rho = kendalltau(values, truth)[0], spearmanr(values, truth)[0]
        print(f"{name:16s} tau {tau:+.3f}  rho {rho:+.3f}")
    for name in ("seconds_sum", "seconds_loss"):
        print(f"median {name}: {statistics.median(r[name] for r in rows):.2f}")


if __name__ == "__main__":
    main()
