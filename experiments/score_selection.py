"""How much could choosing the components of a combined score on the benchmark itself gain?

An honest check of "fitting the rule to the table": split the scored architectures of a
``ntknas bench nb201 --cache FILE`` run into two seeded halves, pick on half A the subset of
candidate components (2 to 4 of them, Σ log(rank/N) aggregation, no weights) with the best
Kendall τ, and report that subset's τ on half B next to the fixed a-priori rules. A large gap
between A and B means the selection fits noise; a small one means the gain would carry over.

    python experiments/score_selection.py CACHE.jsonl TABLE.csv --target cifar10_test_acc

Only reads the cache and the table; prints a table (nothing is written).
"""

from __future__ import annotations

import argparse
import itertools
import random

from scipy.stats import kendalltau, spearmanr

from ntknas.bench.nb201 import cached_population, read_ground_truth
from ntknas.combined_scores import ScoreRule, aggregate, get_score, list_scores
from ntknas.legacy_scores import register_legacy_scores

CANDIDATES = {
    "log_cond": "minimize",
    "lambda_min_normalized": "maximize",
    "effective_rank": "maximize",
    "trace": "maximize",
    "krr_loss": "minimize",
    "kernel_alignment": "maximize",
    "naswot": "maximize",
    "feature_decorrelation": "maximize",
    "backward_decorrelation": "maximize",
    "flops": "maximize",
    "lambda_min_cosine": "maximize",
    "layer_lambda_min_cosine": "maximize",
    "lambda_min_cosine_all": "maximize",
    "layer_lambda_min_cosine_all": "maximize",
}


#: The candidates computed from the NTK alone (no size, FLOPs or expressivity terms).
NTK_ONLY = set(CANDIDATES) - {"naswot", "feature_decorrelation", "flops"}


def load_rows(cache: str, table: str, target: str) -> tuple[list[dict[str, float]], list[float]]:
    accuracy = dict(read_ground_truth(table, target))
    rows, acc = [], []
    for arch, row in cached_population(cache):
        if arch not in accuracy or accuracy[arch] <= 15.0:  # disconnected cells: 10 %
            continue
        rows.append(row)
        acc.append(accuracy[arch])
    return rows, acc


def _tau(
    rows: list[dict[str, float]], acc: list[float], rule: ScoreRule | str
) -> tuple[float, float]:
    s = aggregate(rows, rule)
    return float(kendalltau(s, acc)[0]), float(spearmanr(s, acc)[0])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache")
    p.add_argument("table")
    p.add_argument("--target", default="cifar10_test_acc")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    register_legacy_scores()  # the fixed a-priori rules include the earlier ones
    rows, acc = load_rows(args.cache, args.table, args.target)
    have = set.intersection(*(set(r) for r in rows))
    candidates = {k: v for k, v in CANDIDATES.items() if k in have}
    order = list(range(len(rows)))
    random.Random(args.seed).shuffle(order)
    a, b = order[: len(order) // 2], order[len(order) // 2 :]
    ra, aa = [rows[i] for i in a], [acc[i] for i in a]
    rb, ab = [rows[i] for i in b], [acc[i] for i in b]
    results, ntk_results = [], []
    for k in (1, 2, 3, 4, 5):
        for combo in itertools.combinations(candidates, k):
            rule = ScoreRule("+".join(combo), {c: candidates[c] for c in combo})
            tau_a = _tau(ra, aa, rule)[0]
            if k > 1:
                results.append((tau_a, rule))
            if set(combo) <= NTK_ONLY:
                ntk_results.append((tau_a, rule))
    results.sort(key=lambda t: -t[0])
    ntk_results.sort(key=lambda t: -t[0])
    print(f"{len(rows)} connected architectures; half A {len(a)}, half B {len(b)}")
    print(f"{'rule':<55} {'tau A':>7} {'tau B':>7} {'rho B':>7}")
    for name in list_scores():
        if get_score(name).needs() <= have:
            ta, tb = _tau(ra, aa, name)[0], _tau(rb, ab, name)
            print(f"{name + ' (fixed a priori)':<55} {ta:>7.3f} {tb[0]:>7.3f} {tb[1]:>7.3f}")
    for tau_a, rule in results[:5]:
        tb = _tau(rb, ab, rule)
        print(f"{'selected on A: ' + rule.name:<55} {tau_a:>7.3f} {tb[0]:>7.3f} {tb[1]:>7.3f}")
    for tau_a, rule in ntk_results[:5]:
        tb = _tau(rb, ab, rule)
        label = "NTK-only selected on A: " + rule.name
        print(f"{label:<55} {tau_a:>7.3f} {tb[0]:>7.3f} {tb[1]:>7.3f}")


if __name__ == "__main__":
    main()
