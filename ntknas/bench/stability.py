"""How much of a metric's ranking is noise: the same architectures scored from several seeded
initializations on one fixed probe batch (``vary="init"``), or from one initialization on
several seeded probe batches (``vary="probe"``).

For each metric and each combined score whose components were computed (the default score
among them): the median Kendall τ between the rankings of every pair of draws (1: the draw does
not matter; low: one draw ranks mostly noise), and, with a ground-truth table, τ with accuracy
of one draw and of the metric averaged over all of them (what ``repeats`` would buy). A
combined score is aggregated over the architectures of each draw and averaged as its value.

::

    ntknas bench stability --space nb201 --n 150 --inits 3 --batch-size 64 \\
        --data imagefolder:DIR \\
        --ground-truth nb201_cifar10_dev.csv --target cifar10_test_acc
    ntknas bench stability --space nbmacro --n 100 --inits 3 --vary probe \\
        --metrics ntk-agg-v6,feature_group_decorrelation --data imagefolder:DIR
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

import search_spaces
from ntknas.bench.table import read_table
from ntknas.combined_scores import aggregate, get_score, list_scores
from ntknas.correlate import kendall_tau
from ntknas.objectives import signal_names
from ntknas.scorer import NTKScorer
from ntknas.spectral import list_metrics
from ntknas.validate import metric_sign

#: What a draw changes: the initialization (one probe batch) or the probe batch (one init).
VARIED = ("init", "probe")


def _per_architecture(rows: list[Any], metrics: Sequence[str] | None) -> dict[str, list[float]]:
    """Each metric's values over the architectures of one draw, combined scores included."""
    values = [{**r.metrics, "params": float(r.params), "flops": float(r.flops)} for r in rows]
    names = [m for m in values[0] if m in list_metrics() or m in signal_names()]
    out = {m: [float(v.get(m, math.nan)) for v in values] for m in names}
    for name in list_scores():
        if get_score(name).needs() <= set(values[0]):
            out[name] = aggregate(values, name).tolist()
    if metrics is not None:
        out = {m: v for m, v in out.items() if m in metrics}
    return out


def init_stability(
    archs: list[str],
    *,
    space: str = "nb201",
    inits: int = 3,
    accuracy: list[float] | None = None,
    progress: bool = False,
    vary: str = "init",
    metrics: Sequence[str] | None = None,
    **scorer_options: Any,
) -> dict[str, dict[str, float]]:
    """Per metric: ``between_inits`` (median pairwise τ over the draws) and, when ``accuracy``
    is given, ``tau_one_init`` / ``tau_mean_over_inits`` (signed, positive = ranks like
    accuracy).

    Args:
        archs: the architectures (strings of ``space``).
        space: the search space's registry name.
        inits: draws (>= 2): seeds 0, 1, ... of the initialization or of the probe batch.
        accuracy: ground truth of ``archs``, for τ with accuracy.
        vary: ``"init"`` (seeded initializations, the seed-0 probe batch) or ``"probe"``
            (seeded probe batches, the seed-0 initialization).
        metrics: the metrics and combined scores to report (None: every one computed); when
            given, the scorer computes only what they need (no kernel for kernel-free ones).
        scorer_options: :class:`ntknas.scorer.NTKScorer` options (``space_options`` goes to
            the search space).

    Example:
        >>> s = search_spaces.create_search_space("nb201", cells=1)
        >>> archs = [s.sample(i).to_string() for i in range(4)]
        >>> r = init_stability(archs, space="nb201", inits=2, batch_size=4, space_options={"cells": 1})
        >>> -1.0 <= r["log_cond"]["between_inits"] <= 1.0
        True
        >>> r = init_stability(archs, inits=2, batch_size=4, vary="probe",
        ...     metrics=["ntk-agg-v6"], space_options={"cells": 1})
        >>> sorted(r)
        ['ntk-agg-v6']
    """
    if inits < 2:
        raise ValueError(f"inits must be >= 2, got {inits}")
    if vary not in VARIED:
        raise ValueError(f"--vary must be one of {', '.join(VARIED)}, got {vary!r}")
    if metrics is not None:  # the scorer rejects an unknown name
        scorer_options = {**scorer_options, "needs": list(metrics)}
    space_options = scorer_options.pop("space_options", {})
    search_space = search_spaces.create_search_space(space, **space_options)
    fixed_probe = NTKScorer(seed=0, **scorer_options).probe  # the probe of every init
    values: dict[str, list[list[float]]] = {}
    for seed in range(inits):
        if vary == "init":
            scorer = NTKScorer(seed=seed, probe=fixed_probe, **scorer_options)
        else:  # the seed-0 initialization (its models), this seed's probe batch
            probe = NTKScorer(seed=seed, **scorer_options).probe
            scorer = NTKScorer(seed=0, probe=probe, **scorer_options)
        iterator = archs
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(archs, desc=f"{vary} {seed}", unit="arch")
        rows = [scorer.score(search_space, a) for a in iterator]
        for m, v in _per_architecture(rows, metrics).items():
            values.setdefault(m, []).append(v)
    out: dict[str, dict[str, float]] = {}
    for m, per_draw in values.items():
        if len(per_draw) < inits or not all(np.isfinite(v).all() for v in per_draw):
            out[m] = {"not_finite": True}  # reported, not dropped: no τ of non-finite values
            continue
        if any(min(v) == max(v) for v in per_draw):
            out[m] = {"constant": True}  # one value for every architecture: it ranks nothing
            continue
        pairs = [kendall_tau(a, b) for a, b in itertools.combinations(per_draw, 2)]
        entry = {"between_inits": float(statistics.median(pairs))}
        if accuracy is not None:
            sign = metric_sign(m)
            entry["tau_one_init"] = kendall_tau(per_draw[0], accuracy, sign=sign)
            mean = np.mean(np.asarray(per_draw), axis=0).tolist()
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
    vary: str = "init",
    metrics: Sequence[str] | None = None,
    space_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Sample ``n`` architectures (from the ``ground_truth`` table when given, any CSV that
    ``bench table`` reads: ``n`` of its rows, seeded, with their accuracy in column ``target``;
    otherwise ``n`` distinct ones of the space, seeded; NAS-Bench-201's disconnected cells left
    out either way) and run
    :func:`init_stability` on them."""
    if n < 2:
        raise ValueError(f"--n must be >= 2, got {n}")
    accuracy = None
    search_space = search_spaces.create_search_space(space, **(space_options or {}))
    # the networks a table would correlate: NAS-Bench-201's disconnected cells (constant
    # output, no ranking to speak of) are left out, as everywhere
    has_disconnected = hasattr(search_space, "is_disconnected")
    disconnected = search_space.is_disconnected if has_disconnected else (lambda _arch: False)
    if ground_truth:  # any table bench table reads (a CSV of the space's architectures)
        table = read_table(ground_truth, target, space=search_space)
        rows = [(a, acc) for a, acc in zip(table.archs, table.accuracies) if not disconnected(a)]
        rows = random.Random(seed).sample(rows, min(n, len(rows)))
        archs = [a for a, _ in rows]  # the table's architecture strings
        accuracy = [acc for _, acc in rows]
    else:
        pool = search_space.sample_distinct(4 * n if has_disconnected else n, seed)
        archs = [a.to_string() for a in pool if not disconnected(a)][:n]
    measured = init_stability(
        archs,
        space=space,
        inits=inits,
        accuracy=accuracy,
        progress=progress,
        vary=vary,
        metrics=metrics,
        space_options=space_options or {},
        batch_size=batch_size,
        data=data,
        device=device,
    )
    return {
        "space": space,
        "n": len(archs),
        "inits": inits,
        "vary": vary,
        "batch_size": batch_size,
        "data": data,
        "ground_truth": ground_truth,
        "architectures": archs,
        "metrics": measured,
    }


def format_stability(result: dict[str, Any]) -> str:
    """The result of :func:`run_stability` as a table, most stable metric first."""
    if result.get("vary", "init") == "init":
        draws = f"{result['inits']} initializations, one probe batch"
    else:
        draws = f"{result['inits']} probe batches, one initialization"
    lines = [f"{result['n']} architectures of {result['space']}, {draws}, B={result['batch_size']}"]
    with_accuracy = result["ground_truth"] is not None
    head = f"{'metric':<30} {'tau between draws':>18}"
    if with_accuracy:
        head += f" {'tau acc (1 init)':>17} {'tau acc (mean)':>15}"
    lines.append(head)
    finite = {m: e for m, e in result["metrics"].items() if "between_inits" in e}
    for m, e in sorted(finite.items(), key=lambda t: -t[1]["between_inits"]):
        line = f"{m:<30} {e['between_inits']:>18.3f}"
        if with_accuracy:
            line += f" {e['tau_one_init']:>17.3f} {e['tau_mean_over_inits']:>15.3f}"
        lines.append(line)
    for flag, what in (
        ("constant", "constant over the architectures"),
        ("not_finite", "not finite on some architecture"),
    ):
        names = sorted(m for m, e in result["metrics"].items() if e.get(flag))
        if names:
            lines.append(f"{what} (no τ): {', '.join(names)}")
    return "\n".join(lines)
