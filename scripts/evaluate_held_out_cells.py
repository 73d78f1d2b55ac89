"""Correlate rules and metrics of a ``bench nb201`` cache on cells that a pilot did not see.

A rule chosen after a pilot on the first ``--exclude-first`` architectures of the seeded sample
``--exclude-seed`` (the benchmark's ``--n 1000 --seed S`` sample) is evaluated here on the
connected cells of another cache *without* those pilot cells, so that no cell that informed
the choice is counted. Prints Kendall τ and Spearman ρ (signed: positive ranks like accuracy)
for the cells left, for all connected cells of the cache, and within sizes (the cell-weighted
mean τ inside each group of >= 20 cells with the same parameter count: what a signal says
beyond network size)::

    python scripts/evaluate_held_out_cells.py ~/.cache/ntknas/bench/nb201_b64_h64_all_seed1.jsonl \\
        ../shared/data/nb201/nb201_cifar10_dev.csv --exclude-seed 0 --exclude-first 300

Only aggregates are printed, never per-architecture accuracies.
"""

from __future__ import annotations

import argparse
import random

import numpy as np
from scipy.stats import kendalltau, spearmanr

import search_spaces
from ntknas.bench.nb201 import cached_population, read_ground_truth
from ntknas.combined_scores import aggregate, list_scores, metrics_needed
from ntknas.legacy_scores import register_legacy_scores
from ntknas.objectives import metric_direction

SHOWN = (
    "ntk-agg-v4",
    "ntk-agg-v5",
    "ntk-only-v4",
    "backward_decorrelation",
    "feature_decorrelation",
    "ntk-agg-v2",
    "ntk-agg-v3",
    "ntk-only-v3",
    "layer_lambda_min_cosine_all",
    "log_cond",
    "naswot",
    "flops",
)


def main() -> None:
    register_legacy_scores()  # the published rules include the earlier ones
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache")
    parser.add_argument("table")
    parser.add_argument("--target", default="cifar10_test_acc")
    parser.add_argument("--exclude-seed", type=int, default=0)
    parser.add_argument("--exclude-first", type=int, default=300)
    args = parser.parse_args()
    table = read_ground_truth(args.table, args.target)
    accuracy = dict(table)
    sample = random.Random(args.exclude_seed).sample(table, 1000)
    pilot = {a for a, _ in sample[: args.exclude_first]}
    space = search_spaces.create_search_space("nb201")
    rows, archs = [], []
    for arch, row in cached_population(args.cache):
        if not space.is_disconnected(arch):
            rows.append(row)
            archs.append(arch)
    kept = [i for i, a in enumerate(archs) if a not in pilot]
    print(f"{len(rows)} connected cells in the cache; {len(rows) - len(kept)} were pilot cells;")
    print(f"{len(kept)} held-out cells\n")
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(int(r["params"]), []).append(i)
    sizes = [g for g in groups.values() if len(g) >= 20]
    print(f"{len(sizes)} sizes with >= 20 cells hold {sum(map(len, sizes))} cells\n")
    header = f"{'rule / metric':30s} {'held-out τ':>10s} {'ρ':>7s} {'all τ':>8s} {'ρ':>7s}"
    print(header + f" {'within-size τ':>14s}")
    have = set.intersection(*(set(r) for r in rows))
    for name in SHOWN:
        if not metrics_needed([name]) <= have:
            print(f"{name:30s} (not in this cache)")
            continue
        if name in list_scores():
            values = list(aggregate(rows, name))
        else:
            direction = metric_direction(name)
            sign = 1.0 if direction == "maximize" else -1.0
            values = [sign * float(r.get(name, float("nan"))) for r in rows]
        acc = [accuracy[a] for a in archs]
        out = []
        for subset in (kept, range(len(rows))):
            v = [values[i] for i in subset]
            t = [acc[i] for i in subset]
            out += [kendalltau(v, t)[0], spearmanr(v, t)[0]]
        within = [kendalltau([values[i] for i in g], [acc[i] for i in g])[0] for g in sizes]
        out.append(float(np.average(within, weights=[len(g) for g in sizes])))
        print(f"{name:30s} {out[0]:10.3f} {out[1]:7.3f} {out[2]:8.3f} {out[3]:7.3f} {out[4]:14.3f}")


if __name__ == "__main__":
    main()
