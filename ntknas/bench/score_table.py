"""Rank correlation of named scores on an accuracy table, computing only what they read.

``ntknas bench table --score NAME`` (this module) is the light sibling of :func:`run_table`:
where that one runs the kernel pass of every setting and every signal beside it, this one
builds one :class:`~ntknas.scorer.NTKScorer` with ``needs=`` the named scores, so the default
score (probe signals only) is scored without the kernel, at its own cost. It reports each
score, each component of a combined score, #params, FLOPs and the table's ``naslib_*``
columns against the accuracies, on the same rows as :func:`run_table` with the same ``n``,
``seed``, ``skip``, ``shard`` and ``part`` (:func:`~ntknas.bench.table.table_positions`).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

import search_spaces
from ntknas.bench.table import (
    check_builds,
    read_table,
    skip_out_of_memory,
    table_positions,
)
from ntknas.combined_scores import aggregate, get_score, list_scores
from ntknas.correlate import correlation_row
from ntknas.data import describe
from ntknas.objectives import get_objective, metric_direction
from ntknas.scorer import NTKScorer


def _directions(scores: list[str]) -> dict[str, str]:
    """Each score and component → the direction it ranks by: a combined score's components by
    the rule's (FLOPs is a cost to minimize as an objective, but ``ntk-agg-v7`` maximizes it),
    anything else by its own."""
    directions: dict[str, str] = {}
    for name in scores:
        if name in list_scores():
            directions.setdefault(name, "maximize")
            for component, direction in get_score(name).components.items():
                directions.setdefault(component, direction)
        else:
            directions.setdefault(name, metric_direction(name))
    return directions


def run_score_table(
    ground_truth: str,
    target: str,
    scores: list[str],
    *,
    space: str = "nb201",
    arch_column: str = "arch",
    space_options: dict[str, Any] | None = None,
    n: int | None = None,
    seed: int = 0,
    skip: int = 0,
    shard: tuple[int, int] | None = None,
    part: str | None = None,
    data: str = "synthetic",
    data_dir: str | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    include_disconnected: bool = False,
    progress: bool = True,
    **scorer_options: Any,
) -> dict[str, Any]:
    """Score a table's rows with ``scores`` alone and correlate them with its accuracies.

    Args:
        ground_truth: the CSV (:func:`~ntknas.bench.table.read_table`).
        target: its accuracy column.
        scores: objective names (combined scores, metrics or proxies); each combined score's
            components are reported beside it.
        space, arch_column, space_options, n, seed, skip, shard, part, data, data_dir,
        batch_size, device, include_disconnected: as :func:`~ntknas.bench.table.run_table`.
        scorer_options: passed to :class:`~ntknas.scorer.NTKScorer` (``kernel``, ``bn``,
            ``heldout``, ...; they matter only to scores that read the kernel).

    Returns:
        ``correlations`` (name → τ, ρ, top-10 overlap, regret, n), ``baselines`` (#params,
        FLOPs, the table's ``naslib_*`` columns), ``needs_kernel``, sizes and timings.

    Raises:
        ValueError: an unknown score name (before anything is scored).
        ntknas.data.DataError: an unreadable table, or a row that does not build.

    Example:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "t.csv")
        >>> rows = ["10101010", "21212121", "02020202", "12121212", "22222222"]
        >>> _ = open(f, "w").write("arch,acc\\n" + "".join(f"{a},{i}\\n" for i, a in enumerate(rows)))
        >>> r = run_score_table(f, "acc", ["flops"], space="nbmacro", batch_size=8, progress=False)
        >>> r["n_correlated"], r["needs_kernel"], sorted(r["correlations"])
        (5, False, ['flops'])
    """
    if part not in (None, "pilot", "evaluation"):
        raise ValueError(f"--part must be pilot or evaluation, got {part!r}")
    for name in scores:
        get_objective(name)  # an unknown name: one line, before any scoring
    space_obj = search_spaces.create_search_space(space, **(space_options or {}))
    table = read_table(ground_truth, target, space=space_obj, arch_column=arch_column)
    order = table_positions(len(table.archs), n, seed, skip, shard, part)
    sample = table.take(order)
    directions = _directions(scores)
    reported = list(directions)
    scorer = NTKScorer(
        batch_size=batch_size,
        data=data,
        data_dir=data_dir,
        seed=seed,
        device=device,
        image_size=space_obj.input_shape[-1],
        needs=reported,
        **scorer_options,
    )
    check_builds(space_obj, sample, num_classes=scorer.num_classes)
    is_disconnected = getattr(space_obj, "is_disconnected", None)
    rows = sample.rows()
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc="score", unit="arch")
    population: list[dict[str, float]] = []
    accuracies: list[float] = []
    correlated: list[str] = []
    skipped: dict[str, str] = {}
    seconds: list[float] = []
    disconnected = 0
    start = time.perf_counter()
    for arch, accuracy in rows:
        if is_disconnected is not None and is_disconnected(arch):
            disconnected += 1
            if not include_disconnected:
                continue
        try:
            result = scorer.score(space_obj, arch)
        except Exception as error:  # noqa: BLE001 - only memory faults are survived
            skip_out_of_memory(arch, error, skipped)
            continue
        seconds.append(result.seconds)
        population.append(
            {**result.metrics, "params": float(result.params), "flops": float(result.flops)}
        )
        accuracies.append(accuracy)
        correlated.append(arch)
    correlations: dict[str, dict[str, float]] = {}
    for name in reported:
        if name in list_scores():
            values = list(aggregate(population, get_score(name)))
            correlations[name] = correlation_row(values, accuracies)
        else:
            values = [row.get(name, float("nan")) for row in population]
            sign = 1 if directions[name] == "maximize" else -1
            correlations[name] = correlation_row(values, accuracies, sign=sign)
    by_arch = {column: dict(zip(sample.archs, v)) for column, v in sample.baselines.items()}
    baselines = {
        "params": correlation_row([row["params"] for row in population], accuracies),
        "flops": correlation_row([row["flops"] for row in population], accuracies),
        **{
            column: correlation_row([values[a] for a in correlated], accuracies)
            for column, values in by_arch.items()
        },
    }
    return {
        "space": space_obj.name,
        "space_options": space_obj.options(),
        "ground_truth": str(ground_truth),
        "target": target,
        "scores": scores,
        "needs_kernel": scorer.kernel_needed(),
        "n": len(sample.archs),
        "n_correlated": len(accuracies),
        "n_disconnected": disconnected,
        "disconnected_policy": "included" if include_disconnected else "excluded from correlations",
        "n_skipped": len(skipped),
        "skipped": skipped,
        "part": part,
        "skip": skip,
        "shard": list(shard) if shard else None,
        "seed": seed,
        "data": describe(data, data_dir),
        "batch_size": batch_size,
        "device": device,
        "correlations": correlations,
        "baselines": baselines,
        "median_seconds_per_arch": statistics.median(seconds) if seconds else None,
        "seconds": time.perf_counter() - start,
        "torch_threads": torch.get_num_threads(),
    }


def format_score_table(result: dict[str, Any]) -> str:
    """The text table of a :func:`run_score_table` result."""
    skipped = f", {result['n_skipped']} skipped (out of memory)" if result["n_skipped"] else ""
    kernel = "with" if result["needs_kernel"] else "without"
    lines = [
        f"{result['space']}: {result['n_correlated']} of {result['n']} architectures correlated "
        f"({result['n_disconnected']} disconnected, {result['disconnected_policy']}{skipped}), "
        f"target {result['target']}, probe: {result['data']}, B={result['batch_size']}, "
        f"{kernel} the kernel pass",
        "signed correlations (positive = ranks like accuracy)",
        "",
        f"{'score':<40} {'tau':>7} {'rho':>7} {'top10':>6} {'regret':>7}",
    ]
    rows = dict(result["correlations"])
    rows.update({k: v for k, v in result["baselines"].items() if k not in rows})
    for name, row in rows.items():
        lines.append(
            f"{name:<40} {row['kendall_tau']:>7.3f} {row['spearman_rho']:>7.3f} "
            f"{row['top10_overlap']:>6.2f} {row['regret']:>7.2f}"
        )
    per_arch = result["median_seconds_per_arch"]
    if per_arch is not None:
        lines += ["", f"median {per_arch:.3f} s per architecture ({result['device']})"]
    return "\n".join(lines)
