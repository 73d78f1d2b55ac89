"""How much of a metric's ranking is initialization noise: the same architectures scored from
several seeded initializations on one fixed probe batch.

For each metric: the median Kendall τ between the rankings of every pair of initializations
(1: the initialization does not matter; low: one initialization ranks mostly noise), and, with
a ground-truth table, τ with accuracy of one initialization and of the metric averaged over
all of them (what ``repeats`` would buy).

::

    ntknas bench stability --space nb201 --n 150 --inits 3 --batch-size 64 \\
        --data imagefolder:DIR \\
        --ground-truth nb201_cifar10_dev.csv --target cifar10_test_acc
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from typing import Any

import numpy as np

import search_spaces
from ntknas.bench.nb201 import read_ground_truth
from ntknas.correlate import kendall_tau
from ntknas.objectives import signal_names
from ntknas.scorer import NTKScorer
from ntknas.spectral import list_metrics
from ntknas.validate import metric_sign


def init_stability(
    archs: list[str],
    *,
    space: str = "nb201",
    inits: int = 3,
    accuracy: list[float] | None = None,
    progress: bool = False,
    **scorer_options: Any,
) -> dict[str, dict[str, float]]:
    """Per metric: ``between_inits`` (median pairwise τ over initializations) and, when
    ``accuracy`` is given, ``tau_one_init`` / ``tau_mean_over_inits`` (signed, positive = ranks
    like accuracy).

    Example:
        >>> s = search_spaces.create_search_space("nb201", cells=1)
        >>> archs = [s.sample(i).to_string() for i in range(4)]
        >>> r = init_stability(archs, space="nb201", inits=2, batch_size=4, space_options={"cells": 1})
        >>> -1.0 <= r["log_cond"]["between_inits"] <= 1.0
        True
    """
    if inits < 2:
        raise ValueError(f"inits must be >= 2, got {inits}")
    space_options = scorer_options.pop("space_options", {})
    search_space = search_spaces.create_search_space(space, **space_options)
    probe = NTKScorer(seed=0, **scorer_options).probe  # one probe batch for every init
    values: dict[str, list[list[float]]] = {}
    for seed in range(inits):
        scorer = NTKScorer(seed=seed, probe=probe, **scorer_options)
        iterator = archs
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(archs, desc=f"init {seed}", unit="arch")
        rows = [scorer.score(search_space, a) for a in iterator]
        names = [m for m in rows[0].metrics if m in list_metrics() or m in signal_names()]
        for m in names:
            values.setdefault(m, []).append([float(r.metrics.get(m, math.nan)) for r in rows])
    out: dict[str, dict[str, float]] = {}
    for m, per_init in values.items():
        if len(per_init) < inits or not all(np.isfinite(v).all() for v in per_init):
            continue
        pairs = [kendall_tau(a, b) for a, b in itertools.combinations(per_init, 2)]
        entry = {"between_inits": float(statistics.median(pairs))}
        if accuracy is not None:
            sign = metric_sign(m)
            entry["tau_one_init"] = kendall_tau(per_init[0], accuracy, sign=sign)
            mean = np.mean(np.asarray(per_init), axis=0).tolist()
            entry["tau_mean_over_inits"] = kendall_tau(mean, accuracy, sign=sign)
        out[m] = entry
    return out


def run_stability(
    *,
    space: str = "nb201",
    n: int = 100,
    seed: int = 0,
    inits: int = 3,
    batch_size: int = 64,
    data: str = "synthetic",
    device: str = "cpu",
    ground_truth: str | None = None,
    target: str = "cifar10_test_acc",
    progress: bool = True,
) -> dict[str, Any]:
    """Sample ``n`` architectures (from the ``ground_truth`` table when given: connected cells
    with their accuracy) and run :func:`init_stability` on them."""
    if n < 2:
        raise ValueError(f"--n must be >= 2, got {n}")
    accuracy = None
    if ground_truth:
        if space != "nb201":
            raise ValueError(f"--ground-truth is a NAS-Bench-201 table; --space is {space!r}")
        rows = [r for r in read_ground_truth(ground_truth, target) if r[1] > 15.0]  # 10 %: cut
        rows = random.Random(seed).sample(rows, min(n, len(rows)))
        archs, accuracy = [a for a, _ in rows], [acc for _, acc in rows]
    else:
        search_space = search_spaces.create_search_space(space)
        archs = [a.to_string() for a in search_space.sample_distinct(n, seed)]
    metrics = init_stability(
        archs,
        space=space,
        inits=inits,
        accuracy=accuracy,
        progress=progress,
        batch_size=batch_size,
        data=data,
        device=device,
    )
    return {
        "space": space,
        "n": len(archs),
        "inits": inits,
        "batch_size": batch_size,
        "data": data,
        "ground_truth": ground_truth,
        "metrics": metrics,
    }


def format_stability(result: dict[str, Any]) -> str:
    """The result of :func:`run_stability` as a table, most stable metric first."""
    lines = [
        f"{result['n']} architectures of {result['space']}, {result['inits']} initializations, "
        f"B={result['batch_size']}, one probe batch"
    ]
    with_accuracy = result["ground_truth"] is not None
    head = f"{'metric':<30} {'tau between inits':>18}"
    if with_accuracy:
        head += f" {'tau acc (1 init)':>17} {'tau acc (mean)':>15}"
    lines.append(head)
    for m, e in sorted(result["metrics"].items(), key=lambda t: -t[1]["between_inits"]):
        line = f"{m:<30} {e['between_inits']:>18.3f}"
        if with_accuracy:
            line += f" {e['tau_one_init']:>17.3f} {e['tau_mean_over_inits']:>15.3f}"
        lines.append(line)
    return "\n".join(lines)
