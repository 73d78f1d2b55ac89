"""Issue #18, after round 2: is it the group size or the pooling rule that moves each space?

Round 2 (``cross_space_round2.py``) changed two things at once: groups of 16 / 32 channels
*and* a pooling rule that keeps ≥ 4 observations per group channel (``headroom`` 4: the first
8 images' positions are pooled on maps of ≤ 4 × size positions). This diagnostic separates them
on the forward factor (``feature_group*_decorrelation``) with the four combinations of size
8 / 32 and headroom 1 / 4, on **round 1's pilot rows only** (no judge row is read, nothing is
chosen here). Kendall τ against each table's accuracy.

Run: ``python experiments/group_pooling_diagnostic.py --tables nbmacro,nb201-c10``
(``--data``, ``--c10``, ``--c100`` as ``cross_space_rule.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cross_space_rule import tables
from scipy.stats import kendalltau

import search_spaces
from ntknas.bench.table import read_table, sample_positions
from ntknas.proxies import rectifier_signals
from ntknas.proxies.decorrelation import feature_group_decorrelations
from ntknas.scorer import NTKScorer

#: (channels per group, headroom): round 1's signal, round 2's, and the two crossings.
VARIANTS = ((8, 1), (8, 4), (32, 1), (32, 4))


def pilot_rows(spec: dict) -> list[tuple[str, float]]:
    """Round 1's pilot rows of a table (every third of the seeded sample or shard)."""
    space = search_spaces.create_search_space(spec["space"], **spec.get("space_options", {}))
    table = read_table(spec["ground_truth"], spec["target"], space=space)
    order = sample_positions(len(table.archs), spec.get("n"), spec["seed"])
    if "shard" in spec:
        index, count = spec["shard"]
        order = order[index::count]
    order = order[::3]
    disconnected = getattr(space, "is_disconnected", lambda _a: False)
    rows = [(table.archs[i], table.accuracies[i]) for i in order]
    return [(a, acc) for a, acc in rows if not disconnected(a)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="nbmacro,nb201-c10,autoformer-kd,pit-base")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--c10", default=str(Path.home() / ".cache/ntknas/cifar10-jpeg"))
    parser.add_argument("--c100", default=str(Path.home() / ".cache/ntknas/cifar100/cifar100/test"))
    args = parser.parse_args()
    specs = tables(args.data, args.c10, args.c100, Path("unused"))
    print(f"{'table':16s}{'n':>5s}" + "".join(f"{f'{s}/h{h}':>10s}" for s, h in VARIANTS))
    for name in args.tables.split(","):
        spec = specs[name]
        space = search_spaces.create_search_space(spec["space"], **spec.get("space_options", {}))
        scorer = NTKScorer(
            batch_size=spec["batch_size"],
            data=spec["data"],
            seed=spec["seed"],
            image_size=space.input_shape[-1],
        )
        rows = pilot_rows(spec)
        values: dict[tuple[int, int], list[float]] = {v: [] for v in VARIANTS}
        for k, (arch, _) in enumerate(rows):
            model = scorer.build(space, arch)
            signals = feature_group_decorrelations(model, scorer.probe[0], VARIANTS)
            if k == 0:  # the variants the package computes agree with it
                packaged = rectifier_signals(model, scorer.probe[0])
                assert signals[8, 1] == packaged["feature_group_decorrelation"]
                assert signals[32, 4] == packaged["feature_group32_decorrelation"]
            for variant, value in signals.items():
                values[variant].append(value)
        acc = [a for _, a in rows]
        taus = [kendalltau(values[v], acc)[0] for v in VARIANTS]
        print(f"{name:16s}{len(rows):5d}" + "".join(f"{t:10.3f}" for t in taus), flush=True)


if __name__ == "__main__":
    main()
