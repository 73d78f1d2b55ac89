"""Issue #18, second round: larger channel groups, chosen on the pilot, judged on fresh rows.

Fixed (and committed) before any candidate below was scored on any table:

* **Question.** ``ntk-agg-v6`` reads each layer's two NTK factors through random groups of 8
  channels; MeCo's full C×C correlation (``feature_decorrelation``) ranks NAS-Bench-201 better
  (pilot 0.749 vs 0.663) where it is defined. Do groups of 16 or 32 channels (kept at ≥ 4
  observations per channel, so λmin stays clear of the rank bound;
  ``ntknas.proxies.decorrelation.GROUP_SIZES``) keep the group signals' reach and recover that?
* **Candidates** (:data:`CANDIDATES`, :data:`NTK_ONLY_CANDIDATES`): unweighted rank
  aggregations, the incumbents ``ntk-agg-v6`` (``groups+flops``) and ``ntk-only-v6``
  (``backward-groups+trace``) among them, so the round can keep them.
* **Pilot**: round 1's pilot (``cross_space_rule.py``, every third architecture of each table's
  sample, the same probes and batch sizes). **Selection**: round 1's rule (highest minimum τ
  over the pilot tables; within 0.01, the higher mean; then fewer components).
* **Judge** (:func:`judge_tables`): rows no rule was chosen on. NAS-Bench-201: 300 dev cells
  after the 200 of round 1's sample (``skip=200``; three targets, CIFAR-100 probes for
  CIFAR-100); NAS-Bench-Macro: 300 dev rows after round 1's 600; NAS-Bench-101: the other half
  of the dev table (``shard 1/2``); AutoFormer and PiT: round 1's evaluation part (their dev
  tables have no rows left; round 1 judged ``ntk-agg-v6`` there, no rule was chosen there).
* **Decision**: the selected default replaces ``ntk-agg-v6`` if it is another candidate and its
  minimum τ over the judge tables is above ``ntk-agg-v6``'s there; the selected NTK-only
  replaces ``ntk-only-v6`` by the same test. Both are reported against issue #18's targets on
  the judge tables whatever the outcome.

Run: ``python experiments/cross_space_round2.py --part pilot`` (then ``--part judge``);
``--data``, ``--c10``, ``--c100``, ``--cache`` as ``cross_space_rule.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

from cross_space_rule import REFERENCES, correlate, select, tables

from ntknas.bench.table import run_table

MAX = "maximize"


def _groups(suffix: str) -> dict[str, str]:
    return {
        f"feature_group{suffix}_decorrelation": MAX,
        f"backward_group{suffix}_decorrelation": MAX,
    }


#: name → components (kernel-free, as the default's cost budget asks).
CANDIDATES: dict[str, dict[str, str]] = {
    "groups+flops": {**_groups(""), "flops": MAX},  # ntk-agg-v6
    "groups16+flops": {**_groups("16"), "flops": MAX},
    "groups32+flops": {**_groups("32"), "flops": MAX},
    "groups16": _groups("16"),
    "groups32": _groups("32"),
}

#: NTK-only candidates: the NTK's back-propagated factor and Θ's trace, nothing else.
NTK_ONLY_CANDIDATES: dict[str, dict[str, str]] = {
    "backward-groups+trace": {"backward_group_decorrelation": MAX, "trace": MAX},  # ntk-only-v6
    "backward-groups16+trace": {"backward_group16_decorrelation": MAX, "trace": MAX},
    "backward-groups32+trace": {"backward_group32_decorrelation": MAX, "trace": MAX},
    "backward-groups16": {"backward_group16_decorrelation": MAX},
    "backward-groups32": {"backward_group32_decorrelation": MAX},
}

#: Reported beside the candidates (not candidates): round 1's references and each new signal.
SIGNALS: dict[str, dict[str, str]] = {
    **REFERENCES,
    **{
        f"{factor}_group{size}_decorrelation": {f"{factor}_group{size}_decorrelation": MAX}
        for factor in ("feature", "backward")
        for size in (16, 32)
    },
}

INCUMBENT, INCUMBENT_NTK_ONLY = "groups+flops", "backward-groups+trace"


def judge_tables(specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Round 1's tables moved to rows no rule was chosen on (see the module docstring)."""
    judged: dict[str, dict[str, Any]] = {}
    for name, spec in specs.items():
        spec = dict(spec)
        if spec["space"] in ("nb201", "nbmacro"):
            spec["skip"], spec["n"] = spec["n"], 300
            spec["part"] = None
        elif spec["space"] == "nb101":
            spec["shard"], spec["part"] = (1, 2), None
        else:
            spec["part"] = "evaluation"
        judged[name] = spec
    return judged


def decide(taus: dict[str, dict[str, float]], selected: str, incumbent: str) -> str:
    """The committed decision: ``selected`` if its worst judge table beats the incumbent's."""
    if selected != incumbent and min(taus[selected].values()) > min(taus[incumbent].values()):
        return selected
    return incumbent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("pilot", "judge"), required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--c10", default=str(Path.home() / ".cache/ntknas/cifar10-jpeg"))
    parser.add_argument("--c100", default=str(Path.home() / ".cache/ntknas/cifar100/cifar100/test"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/ntknas/bench")
    parser.add_argument("--tables", default=None, help="comma-separated subset of the tables")
    parser.add_argument("--selected", default=None, help="the pilot's JSON (for --part judge)")
    parser.add_argument("--output", type=Path, default=None, help="write the taus as JSON")
    args = parser.parse_args()
    specs = tables(args.data, args.c10, args.c100, args.cache)
    if args.part == "pilot":
        specs = {n: {**s, "part": "pilot"} for n, s in specs.items()}
    else:
        specs = judge_tables(specs)
    names = args.tables.split(",") if args.tables else list(specs)
    every = {**CANDIDATES, **NTK_ONLY_CANDIDATES, **SIGNALS}
    taus: dict[str, dict[str, float]] = {n: {} for n in every}
    rhos: dict[str, dict[str, float]] = {n: {} for n in every}
    sizes: dict[str, int] = {}
    for table in names:
        result = run_table(**specs[table], per_architecture=True)
        rows = [r for r in result["architectures"] if r["correlated"]]
        sizes[table] = len(rows)
        for name, components in every.items():
            taus[name][table], rhos[name][table] = correlate(rows, components)
        for column, row in result["baselines"].items():
            if column.startswith("naslib_"):
                taus.setdefault(column, {})[table] = row["kendall_tau"]
                rhos.setdefault(column, {})[table] = row["spearman_rho"]
        print(f"{table}: {len(rows)} architectures", flush=True)
    header = f"{'score':36s}" + "".join(f"{t:>14s}" for t in names) + f"{'min':>8s}{'mean':>8s}"
    print(header)
    for name in taus:
        values = [taus[name].get(t, float("nan")) for t in names]
        cells = "".join(f"{v:14.3f}" if math.isfinite(v) else f"{'':>14s}" for v in values)
        finite = [v for v in values if math.isfinite(v)]
        low = min(finite) if finite else float("nan")
        mean = statistics.mean(finite) if finite else float("nan")
        print(f"{name:36s}{cells}{low:8.3f}{mean:8.3f}")
    report: dict[str, Any] = {"part": args.part, "tables": sizes}
    if args.part == "pilot":
        report["selected"] = select(taus, CANDIDATES)
        report["selected_ntk_only"] = select(taus, NTK_ONLY_CANDIDATES)
        print(f"selected default: {report['selected']}; NTK-only: {report['selected_ntk_only']}")
    elif args.selected:
        pilot = json.loads(Path(args.selected).read_text())
        report["default"] = decide(taus, pilot["selected"], INCUMBENT)
        report["ntk_only"] = decide(taus, pilot["selected_ntk_only"], INCUMBENT_NTK_ONLY)
        print(f"decision: default {report['default']}; NTK-only {report['ntk_only']}")
    if args.output:
        report.update(kendall_tau=taus, spearman_rho=rhos, candidates=CANDIDATES)
        report["ntk_only_candidates"] = NTK_ONLY_CANDIDATES
        args.output.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
