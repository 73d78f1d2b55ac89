"""Pilot: the NTK's factors per convolution — do they rank NAS-Bench-201 better than the sample kernel?

Per weight layer l the sum-kernel NTK is Θ_l[i, j] = <G_i, G_j> with G_i = ∂(Σ_c f_c(x_i))/∂W_l,
the per-sample weight gradient of a convolution: the outer product (over positions) of the
back-propagated signal δ_i at the layer's output and the input patches a_i. The sample kernel
Θ_l (B×B) asks whether *images* get independent gradients (``layer_lambda_min_cosine``). The same
Jacobian read along its *filters* asks whether the layer's output channels get independent
gradients: the filter kernel F_l = Σ_i G_i G_iᵀ (C_out × C_out, tr F_l = tr Θ_l), the block trace
of the layer's parameter-space Gram J_lᵀ J_l. Its two Kronecker factors are the channel
correlations of δ (backward) and of the layer input (forward; MeCo's signal is the latter at the
rectifiers). Signals, each summed over the convolutions (bn="frozen": this batch's statistics as
constants, so δ_i is sample i's own):

* ``filter_ntk``: λmin of the cosine-normalized filter kernel F_l (all probe images);
* ``backward_decorrelation``: λmin of the channel correlation of δ_i over positions, mean over
  the first 8 images (the backward twin of feature decorrelation);
* ``input_decorrelation``: the same for the convolution's input (feature decorrelation read at
  the convolutions instead of the rectifiers);
* ``factor_product``: Σ_l of the product of the two (the Kronecker-factored parameter-space
  conditioning).

Not part of the package: an experiment, kept so that its figures can be reproduced::

    for i in 0 1; do OMP_NUM_THREADS=1 python experiments/pilot_filter_kernel.py \\
        --data imagefolder:$HOME/.cache/ntknas/cifar10-jpeg --first 300 --shard $i/2 \\
        --ground-truth ../shared/data/nb201/nb201_cifar10_dev.csv \\
        --output /tmp/filter_kernel_$i.jsonl & done; wait
    python experiments/pilot_filter_kernel.py --ground-truth ../shared/data/nb201/nb201_cifar10_dev.csv \\
        --report /tmp/filter_kernel_0.jsonl /tmp/filter_kernel_1.jsonl \\
        --cache ~/.cache/ntknas/bench/nb201_b64_h64_all.jsonl
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from pathlib import Path

import torch
from _pilot import pilot_arguments, score_pilot_cells
from scipy.stats import kendalltau, spearmanr
from torch import nn

import search_spaces
from ntknas.bench.nb201 import cached_population, read_ground_truth
from ntknas.combined_scores import ScoreRule, aggregate
from ntknas.ntk import (
    constant_statistics,
    from_recorded,
    logits_of,
    pass_modes,
    recorded_statistics,
)
from ntknas.proxies import channel_correlation_min_eig
from ntknas.scorer import NTKScorer
from ntknas.spectral import cosine_lambda_min

SIGNALS = ("filter_ntk", "backward_decorrelation", "input_decorrelation", "factor_product")
FROM_CACHE = (
    "feature_decorrelation",
    "layer_lambda_min_cosine",
    "layer_lambda_min_cosine_all",
    "lambda_min_cosine_all",
    "naswot",
    "flops",
    "log_cond",
    "krr_loss",
    "trace",
)
#: Candidates of the rank-aggregation search over the pilot cells (metric → direction).
COMBINATION_CANDIDATES = {
    "backward_decorrelation": "maximize",
    "input_decorrelation": "maximize",
    "feature_decorrelation": "maximize",
    "flops": "maximize",
    "naswot": "maximize",
    "layer_lambda_min_cosine_all": "maximize",
    "lambda_min_cosine_all": "maximize",
    "log_cond": "minimize",
    "krr_loss": "minimize",
    "trace": "maximize",
}


def signals(model: nn.Module, x: torch.Tensor, samples: int = 8) -> dict[str, float]:
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    inputs: dict[str, torch.Tensor] = {}
    outputs: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def record(_m: nn.Module, args: tuple, out: torch.Tensor) -> None:
            inputs[name] = args[0].detach()
            out.retain_grad()
            outputs[name] = out

        return record

    # bn="frozen": this batch's statistics, recorded in a train-mode pass, as constants
    with pass_modes(model, batchnorm_train=True, restore_buffers=True), torch.no_grad():
        with recorded_statistics(model) as statistics:
            model(x)
    handles = [m.register_forward_hook(hook(n)) for n, m in convs.items()]
    try:
        with (
            pass_modes(model, batchnorm_train=True, restore_buffers=True),
            constant_statistics(model, from_recorded(statistics)),
            torch.enable_grad(),
        ):
            logits_of(model(x)).sum().backward()
    finally:
        for h in handles:
            h.remove()
    filter_kernels, backward, forward = [], [], []
    for name, conv in convs.items():
        if outputs[name].grad is None or conv.groups != 1:
            continue
        delta = outputs[name].grad.detach()  # (B, C_out, H', W')
        patches = nn.functional.unfold(
            inputs[name], conv.kernel_size, conv.dilation, conv.padding, conv.stride
        )  # (B, C_in k², H'W')
        g = (delta.flatten(2) @ patches.transpose(1, 2)).transpose(0, 1).flatten(1)
        g = g.to(torch.float64)  # (C_out, B · C_in k²): F_l = g gᵀ in float64
        filter_kernels.append(g @ g.T)
        backward.append(channel_correlation_min_eig(delta, samples))
        forward.append(channel_correlation_min_eig(inputs[name], samples))
    out = {
        "filter_ntk": float(sum(float(cosine_lambda_min(k)) for k in filter_kernels)),
        "backward_decorrelation": sum(backward),
        "input_decorrelation": sum(forward),
        "factor_product": sum(b * f for b, f in zip(backward, forward)),
    }
    model.zero_grad(set_to_none=True)
    return out


def report(files: list[str], cache: str | None, accuracy: dict[str, float]) -> None:
    rows = [json.loads(line) for f in files for line in Path(f).read_text().splitlines()]
    if cache:
        cached = dict(cached_population(cache))
        for r in rows:
            for name in FROM_CACHE:
                r[name] = cached.get(r["arch"], {}).get(name, float("nan"))
    truth = [accuracy[r["arch"]] for r in rows]
    print(f"{len(rows)} connected architectures")
    names = SIGNALS + (FROM_CACHE if cache else ())
    for name in names:
        values = [r[name] for r in rows]
        tau, rho = kendalltau(values, truth, nan_policy="omit")[0], spearmanr(values, truth)[0]
        print(f"{name:24s} tau {tau:+.3f}  rho {rho:+.3f}")
    print(f"median seconds: {statistics.median(r['seconds'] for r in rows):.2f}")
    if cache:  # equal-weight Σ log(rank/N) over 1-3 candidates, on these pilot cells only
        found = []
        for k in (1, 2, 3):
            for combo in itertools.combinations(COMBINATION_CANDIDATES, k):
                rule = ScoreRule("pilot", {c: COMBINATION_CANDIDATES[c] for c in combo})
                values = aggregate(rows, rule)
                found.append((kendalltau(values, truth)[0], spearmanr(values, truth)[0], combo))
        print("\nbest rank aggregations on these cells (tau, rho):")
        for tau, rho, combo in sorted(found, reverse=True)[:15]:
            print(f"  {tau:.3f} {rho:.3f}  {' + '.join(combo)}")


def score(scorer: NTKScorer, space: search_spaces.SearchSpace, arch: str) -> dict[str, float]:
    started = time.perf_counter()
    out = signals(scorer.build(space, arch), scorer.probe[0])
    out["seconds"] = time.perf_counter() - started
    return out


def main() -> None:
    parser = pilot_arguments(__doc__.splitlines()[0])
    parser.add_argument("--cache", help="bench nb201 cache to join other metrics from")
    args = parser.parse_args()
    if args.report:
        table = read_ground_truth(args.ground_truth, args.target)
        report(args.report, args.cache, dict(table))
    else:
        score_pilot_cells(args, score)


if __name__ == "__main__":
    main()
