"""Issue #18, seventh round: the effective dimension of each layer's channels (the participation
ratio of their correlation) as a component.

Fixed (and committed) before any candidate below was scored on any space or table:

* **Question.** Every default so far reads each layer through λmin of channel correlations
  (MeCo's signal, or its random groups of 8): how far the *least* independent direction is from
  0. The participation ratio (Σλ)² / Σλ² of the same correlation reads how many independent
  directions the layer's channels spread over (its log is the Rényi-2 entropy of the spectrum,
  the quantity behind AZ-NAS's expressivity): defined for any ratio of channels to
  observations (computed from the Gram matrix of the smaller side, no eigendecomposition), 0
  for one direction, ≈ log C for C independent channels, so width counts only where it adds
  directions. ``ntknas/proxies/dimension.py``; ``feature_effective_dimension`` (Σ over
  rectifier inputs) and ``backward_effective_dimension`` (Σ over weight-layer outputs of the
  back-propagated NTK signal), the first 8 images' positions pooled.
* **Default candidates** (:data:`CANDIDATES`; unweighted rank aggregation Σ log(rank/N)): the
  incumbent ``groups-all+flops`` (``ntk-agg-v7``); ``dimensions+flops`` (both effective
  dimensions + FLOPs); ``dimensions`` (both, no FLOPs); ``groups-all+dimensions`` (the two group
  signals and the two dimensions, no FLOPs).
* **NTK-only candidates** (:data:`NTK_ONLY`; no size, FLOPs or forward-activation term): the
  incumbent ``ntk-only-v6`` (round 1's pilot figures); ``backward-dimension``;
  ``backward-all+dimension`` (backward groups over every channel + backward dimension). The
  report gives each dimension's Kendall τ with #params (``<name>~params``).
* **Pilot** (``--stage pilot``): round 1's pilot rows, as rounds 2–6. Selections as round 6:
  the highest minimum τ (default) and the highest minimum τ − τ(#params) (NTK-only), the
  incumbent within 0.005.
* **Judge** (``--stage judge``; after the selections are committed). Fresh: NAS-Bench-201 300
  dev cells after rounds 1–6's 1,400 (``skip=1400``). Seen (no rule of this round chosen
  there): NAS-Bench-Macro ``skip=1200``, NB101 ``shard 1/2``, AutoFormer kd and PiT round 1's
  evaluation part. Θ's trace is computed on NB201 and NAS-Bench-Macro only if the NTK-only
  selection is not the incumbent.
* **Decision** (as round 6): a default selection other than the incumbent replaces
  ``ntk-agg-v7`` (as ``ntk-agg-v8``) only if its minimum τ over all judge tables is above the
  incumbent's, its mean over them and over the fresh ones at least the incumbent's, and its
  cost ≤ 2× one training step. An NTK-only selection replaces ``ntk-only-v6`` only if its
  minimum τ − τ(#params) over the NB201 and NAS-Bench-Macro judge tables is above the
  incumbent's. Everything is reported whatever the outcome.

Run::

    cd experiments
    python cross_space_round7.py --stage pilot --tables nb201-c10,nb201-c100,nb201-in16,nb101 --output A.json &
    python cross_space_round7.py --stage pilot --tables nbmacro,autoformer-kd,pit-base,pit-kd --output B.json; wait
    python cross_space_round7.py --stage pilot --combine A.json B.json --output ../results/cross_space/round7_pilot.json
    # the same with --stage judge (--selected ../results/cross_space/round7_pilot.json on
    # each part and on --combine)
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from cross_space_round3 import _merge, file_table, format_taus, table_rows
from cross_space_round4 import specs_for
from scipy.stats import kendalltau, spearmanr

import search_spaces
from ntknas.combined_scores import ScoreRule, aggregate
from ntknas.scorer import NTKScorer

MAX = "maximize"


def _pair(suffix: str) -> dict[str, str]:
    return {f"{f}_group{suffix}_decorrelation": MAX for f in ("feature", "backward")}


_DIMENSIONS = {"feature_effective_dimension": MAX, "backward_effective_dimension": MAX}

#: Default candidates: name → components (kernel-free, as the default's cost budget asks).
CANDIDATES: dict[str, dict[str, str]] = {
    "groups-all+flops": {**_pair("_all"), "flops": MAX},  # ntk-agg-v7
    "dimensions+flops": {**_DIMENSIONS, "flops": MAX},
    "dimensions": _DIMENSIONS,
    "groups-all+dimensions": {**_pair("_all"), **_DIMENSIONS},
}
INCUMBENT = "groups-all+flops"

#: NTK-only candidates: no size, FLOPs or forward-activation term.
NTK_ONLY: dict[str, dict[str, str]] = {
    "backward-groups+trace": {"backward_group_decorrelation": MAX, "trace": MAX},  # ntk-only-v6
    "backward-dimension": {"backward_effective_dimension": MAX},
    "backward-all+dimension": {
        "backward_group_all_decorrelation": MAX,
        "backward_effective_dimension": MAX,
    },
}
NTK_INCUMBENT = "backward-groups+trace"

#: What the scorer computes kernel-free; the NTK-only incumbent adds the kernel pass's trace.
NEEDS = [*_pair("_all"), *_DIMENSIONS, "naswot", "flops", "params"]
KERNEL_NEEDS = ["backward_group_decorrelation", "trace"]

#: Reported beside the candidates (not candidates): each signal alone and the baselines.
REFERENCES: dict[str, dict[str, str]] = {name: {name: MAX} for name in NEEDS}

#: The readings whose τ with #params is reported.
SUMMED = list(_DIMENSIONS)

ROUND1_PILOT = Path(__file__).parent.parent / "results/cross_space/pilot.json"


def judge_specs(data: Path, c10: str, c100: str) -> dict[str, dict[str, Any]]:
    """The judge tables (module docstring): NB201 fresh after ``skip=1400``, the rest seen."""
    specs = specs_for("judge", data, c10, c100)
    for spec in specs.values():
        if spec["space"] == "nb201":
            spec.update(skip=1400, n=300, part=None, seen=False)
        elif spec["space"] == "nbmacro":
            spec.update(skip=1200, n=300, part=None, seen=True)
    return specs


def _values(
    spec: dict[str, Any], space: search_spaces.SearchSpace, archs: list[str], needs: list[str]
) -> list[dict[str, float]]:
    """Every needed signal of ``archs``."""
    scorer = NTKScorer(
        batch_size=spec["batch_size"],
        data=spec["data"],
        image_size=space.input_shape[-1],
        needs=needs,
        seed=spec["seed"],
    )
    values = []
    for arch in archs:
        r = scorer.score(space, arch)
        values.append({**r.metrics, "params": float(r.params), "flops": float(r.flops)})
    return values


_CACHE: dict[tuple, list[dict[str, float]]] = {}


def measure(
    spec: dict[str, Any], with_kernel: bool
) -> tuple[dict[str, float], dict[str, float], int]:
    """τ and ρ of every candidate and reference on one table, its size, and (as
    ``<name>~params``) each effective dimension's τ with #params."""
    needs = [*NEEDS, *KERNEL_NEEDS] if with_kernel else NEEDS
    # NB201's CIFAR-10 and ImageNet16-120 tables are the same cells on the same probes
    key = (spec["space"], spec["data"], spec.get("skip"), spec.get("part"), spec.get("shard"))
    space, rows = table_rows(spec)  # read once: the archs to score and this table's target
    if key not in _CACHE:
        _CACHE[key] = _values(spec, space, [a for a, _ in rows], needs)
    values = _CACHE[key]
    accuracy = [acc for _, acc in rows]
    rules = {**CANDIDATES, **REFERENCES}
    rules |= {k: v for k, v in NTK_ONLY.items() if with_kernel or k != NTK_INCUMBENT}
    taus, rhos = {}, {}
    for name, components in rules.items():
        score = aggregate(values, ScoreRule(name, components)).tolist()
        taus[name] = float(kendalltau(score, accuracy)[0])
        rhos[name] = float(spearmanr(score, accuracy)[0])
    for name in SUMMED:
        pair = [[v[name] for v in values], [v["params"] for v in values]]
        taus[f"{name}~params"] = float(kendalltau(*pair)[0])
        rhos[f"{name}~params"] = float(spearmanr(*pair)[0])
    return taus, rhos, len(values)


def margins(taus: dict[str, dict[str, float]], names: list[str]) -> dict[str, float]:
    """Each rule's minimum over the tables of τ − τ(#params)."""
    return {
        name: min(t - taus["params"][table] for table, t in taus[name].items()) for name in names
    }


def select(taus: dict[str, dict[str, float]]) -> tuple[str, str]:
    """The committed pilot selections (module docstring): the default and the NTK-only rule."""
    worst = {name: min(taus[name].values()) for name in CANDIDATES}
    best = max(worst, key=worst.get)
    default = INCUMBENT if worst[best] <= worst[INCUMBENT] + 0.005 else best
    margin = margins(taus, list(NTK_ONLY))
    best = max(margin, key=margin.get)
    ntk_only = NTK_INCUMBENT if margin[best] <= margin[NTK_INCUMBENT] + 0.005 else best
    return default, ntk_only


def decide(
    taus: dict[str, dict[str, float]], fresh: list[str], selected: tuple[str, str]
) -> tuple[str, str]:
    """The committed decisions on the judge tables (module docstring; cost checked apart)."""
    default, ntk_only = selected
    if default != INCUMBENT:
        new, old = taus[default], taus[INCUMBENT]
        better = (
            min(new.values()) > min(old.values())
            and statistics.mean(new.values()) >= statistics.mean(old.values())
            and statistics.mean(new[t] for t in fresh) >= statistics.mean(old[t] for t in fresh)
        )
        if not better:
            default = INCUMBENT
    if ntk_only != NTK_INCUMBENT:
        kernel_tables = [t for t in taus[NTK_INCUMBENT]]
        both = {n: {t: taus[n][t] for t in kernel_tables} for n in (ntk_only, NTK_INCUMBENT)}
        margin = margins({**both, "params": taus["params"]}, [ntk_only, NTK_INCUMBENT])
        if not margin[ntk_only] > margin[NTK_INCUMBENT]:
            ntk_only = NTK_INCUMBENT
    return default, ntk_only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("pilot", "judge"), required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--c10", default=str(Path.home() / ".cache/ntknas/cifar10-jpeg"))
    parser.add_argument("--c100", default=str(Path.home() / ".cache/ntknas/cifar100/cifar100/test"))
    parser.add_argument("--tables", default=None, help="a subset of the tables")
    parser.add_argument("--selected", type=Path, default=None, help="the pilot's JSON")
    parser.add_argument("--combine", type=Path, nargs="+", default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    selected = None
    if args.stage == "judge":
        if args.selected is None:
            parser.error("--stage judge needs --selected (the pilot's JSON)")
        selected = tuple(json.loads(args.selected.read_text())["selected"])
    if args.combine:
        report = _merge(args.combine)
    else:
        if args.stage == "pilot":
            specs = specs_for("pilot", args.data, args.c10, args.c100)
        else:
            specs = judge_specs(args.data, args.c10, args.c100)
        names = args.tables.split(",") if args.tables else list(specs)
        report = {"stage": args.stage, "kendall_tau": {}, "spearman_rho": {}, "tables": {}}
        for table in names:
            print(table, flush=True)
            spec = specs[table]
            with_kernel = (
                selected is not None
                and selected[1] != NTK_INCUMBENT
                and spec["space"] in ("nb201", "nbmacro")
            )
            file_table(report, table, *measure(spec, with_kernel), spec["seen"])
            if args.output:  # each table as it is done: a run cut short keeps what it measured
                args.output.write_text(json.dumps(report, indent=1))
    if report["stage"] == "pilot" and args.combine:
        round1 = json.loads(ROUND1_PILOT.read_text())["kendall_tau"][NTK_INCUMBENT]
        report["kendall_tau"][NTK_INCUMBENT] = {t: round1[t] for t in report["tables"]}
    print(format_taus(report["kendall_tau"], list(report["tables"])))
    if report["stage"] == "pilot" and args.combine:
        report["selected"] = list(select(report["kendall_tau"]))
        print(f"selected: default {report['selected'][0]}, NTK-only {report['selected'][1]}")
    elif selected is not None and args.combine:
        fresh = [t for t, info in report["tables"].items() if not info["seen_before"]]
        report["decision"] = list(decide(report["kendall_tau"], fresh, selected))
        print(f"decision: default {report['decision'][0]}, NTK-only {report['decision'][1]}")
    report["candidates"] = CANDIDATES
    report["ntk_only_candidates"] = NTK_ONLY
    if args.output:
        args.output.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
