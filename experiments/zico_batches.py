"""Issue #18, after round 5: does ZiCo read lower than published because of its batches?

``zico`` reads the cross-entropy gradients of the probe batch split in two halves (B = 64: two
halves of 32). The ZiCo paper (Li et al. 2023) reads two batches of 64, where our NB201 CIFAR-10
τ is 0.493 on round 1's pilot rows against about 0.59 published. A probe of B = 128 split in
two is exactly the paper's two batches of 64, so this diagnostic scores ``zico`` at B = 64 and
at B = 128 (same seed: the first 64 probe images are shared) on **round 1's evaluation rows**
(the spaces × scores table of ``results/README.md``). Nothing is chosen here: ``zico`` keeps
the probe batch the scorer is given.

Run: ``python experiments/zico_batches.py --output results/cross_space/zico_batches.json``
(``--data``, ``--c10``, ``--c100`` as ``cross_space_round5.py``; ``--tables`` a subset;
``--combine A.json B.json --output C.json`` merges side-by-side runs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cross_space_round3 import _merge, table_rows
from cross_space_round5 import round1_specs
from scipy.stats import kendalltau, spearmanr

from ntknas.scorer import NTKScorer

#: The probe batch sizes compared on each table: the table's own and twice it.
FACTORS = (1, 2)


_CACHE: dict[tuple, list[float]] = {}


def zico_values(spec: dict, batch_size: int) -> tuple[list[float], list[float]]:
    """``zico`` of every row of one table at ``batch_size``, and the rows' accuracies (NB201's
    CIFAR-10 and ImageNet16-120 tables are the same cells on the same probes: scored once)."""
    space, rows = table_rows(spec)
    key = (spec["space"], spec["data"], batch_size, tuple(arch for arch, _ in rows))
    if key in _CACHE:
        return _CACHE[key], [acc for _, acc in rows]
    scorer = NTKScorer(
        batch_size=batch_size,
        data=spec["data"],
        image_size=space.input_shape[-1],
        needs=["zico"],
        seed=spec["seed"],
    )
    values = [scorer.score(space, arch).metrics["zico"] for arch, _ in rows]
    _CACHE[key] = values
    return values, [acc for _, acc in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--c10", default=str(Path.home() / ".cache/ntknas/cifar10-jpeg"))
    parser.add_argument("--c100", default=str(Path.home() / ".cache/ntknas/cifar100/cifar100/test"))
    parser.add_argument("--tables", default="nb201-c10,nb201-c100,nb201-in16")
    parser.add_argument("--combine", type=Path, nargs="+", default=None, help="merge reports")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.combine:  # the reports of processes run side by side, one table set each
        if args.output:
            args.output.write_text(json.dumps(_merge(args.combine), indent=1))
        return
    specs = round1_specs(args.data, args.c10, args.c100)
    report: dict = {"rows": "round 1 evaluation", "tables": {}}
    for table in args.tables.split(","):
        spec = specs[table]
        row = {}
        for factor in FACTORS:
            batch = spec["batch_size"] * factor
            values, accuracy = zico_values(spec, batch)
            row[f"B={batch}"] = {
                "kendall_tau": float(kendalltau(values, accuracy)[0]),
                "spearman_rho": float(spearmanr(values, accuracy)[0]),
                "n": len(values),
            }
        report["tables"][table] = row
        print(table, json.dumps(row), flush=True)
        if args.output:
            args.output.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
