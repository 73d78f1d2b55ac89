"""Issue #18, fifth round: ZiCo's gradient signal-to-noise as a component of the default and of
the NTK-only rule.

Fixed (and committed) before any candidate below was scored on any space or table:

* **Question.** Four rounds varied how the two decorrelation factors are read; none moved the
  minimum τ, and the NTK-only rule (``ntk-only-v6``: backward groups + Θ's trace) stays below
  #params on NB101 and PiT. ZiCo (Li et al. 2023; ``ntknas.proxies.zico``, new) reads the
  other thing the gradients carry: per weight, how consistent the cross-entropy gradient is
  across batches (mean |g| / σ(g)), as log Σ per layer, summed over layers. It is a gradient
  signal: no parameter count, FLOPs or forward activation enters it, but the log of a sum over
  a layer's weights grows with the layer's size, so the report gives its Kendall τ with
  #params on every table beside its τ with accuracy. Here it is read on the probe batch split
  in two halves (one forward and backward of the probe batch; the published proxy reads two
  loader batches).
* **Default candidates** (:data:`CANDIDATES`; unweighted rank aggregation Σ log(rank/N), as
  ``ntk-agg-v7``): the incumbent ``ntk-agg-v7`` (feature + backward groups over every channel
  + FLOPs); the same + ZiCo; the two groups + ZiCo (no FLOPs); feature groups + ZiCo + FLOPs.
* **NTK-only candidates** (:data:`NTK_ONLY`; no size, FLOPs or forward-activation term): the
  incumbent ``ntk-only-v6`` (backward groups of 8, at most 16 groups, + Θ's trace); backward
  groups over every channel + ZiCo; ZiCo alone.
* **Pilot** (``--stage pilot``, where the rules are chosen): round 1's pilot rows (NB201 three
  targets, NB101, NAS-Bench-Macro, AutoFormer kd, PiT base / kd), as rounds 2–4. The
  incumbent NTK-only rule needs the kernel pass; its pilot figures are round 1's on the same
  rows, probes and seed (``results/cross_space/pilot.json``, ``backward-groups+trace``).
  **Selected default**: the highest minimum Kendall τ over the pilot tables; the incumbent if
  within 0.005 of it. **Selected NTK-only**: the highest minimum over the pilot tables of
  τ − τ(#params) (issue #18's NTK-only target is "above #params on every table"); the
  incumbent if within 0.005 of it.
* **Judge** (``--stage judge``; after the selections are committed): rows no rule was chosen
  on: NAS-Bench-201 300 dev cells after rounds 1–4's 800 (``skip=800``), NAS-Bench-Macro its
  last 300 dev rows (``skip=1200``); Θ's trace and the backward groups of 8 are computed there
  (kernel pass) so the NTK-only incumbent is judged on the same rows. Rows earlier rounds
  judged on (NB101 ``shard 1/2``, AutoFormer kd and PiT round 1's evaluation part) may be
  added with ``--tables`` and are reported as seen. Same probes, batch sizes, seed (0).
* **Decision**: a default selection other than the incumbent replaces ``ntk-agg-v7`` (as
  ``ntk-agg-v8``) only if its minimum τ over the fresh judge tables is above the incumbent's,
  its mean τ over them at least the incumbent's, and its cost within issue #18's budget (≤ 2×
  one training step; ``scripts/cost_default_score.sh``). An NTK-only selection other than the
  incumbent replaces ``ntk-only-v6`` (as ``ntk-only-v7``) only if its minimum τ − τ(#params)
  over the fresh judge tables is above the incumbent's. Everything is reported whatever the
  outcome.

Run::

    python experiments/cross_space_round5.py --stage pilot --tables nb201-c10,nb201-c100,nb201-in16,nb101 --output A.json &
    python experiments/cross_space_round5.py --stage pilot --tables nbmacro,autoformer-kd,pit-base,pit-kd --output B.json; wait
    python experiments/cross_space_round5.py --stage pilot --combine A.json B.json \\
        --output results/cross_space/round5_pilot.json
    # the same with --stage judge (tables nb201-c10,nb201-in16 / nb201-c100,nbmacro), then
    # --stage judge --combine ... --selected results/cross_space/round5_pilot.json

Added after the decision, nothing chosen on it: ``--stage round1`` scores the same rules
kernel-free on round 1's evaluation rows, for the spaces × scores table of ``results/README.md``.
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
_GROUPS = {
    "feature_group_all_decorrelation": MAX,
    "backward_group_all_decorrelation": MAX,
}

#: Default candidates: name → components (kernel-free, as the default's cost budget asks).
CANDIDATES: dict[str, dict[str, str]] = {
    "groups-all+flops": {**_GROUPS, "flops": MAX},  # ntk-agg-v7
    "groups-all+flops+zico": {**_GROUPS, "flops": MAX, "zico": MAX},
    "groups-all+zico": {**_GROUPS, "zico": MAX},
    "feature-all+zico+flops": {
        "feature_group_all_decorrelation": MAX,
        "zico": MAX,
        "flops": MAX,
    },
}
INCUMBENT = "groups-all+flops"

#: NTK-only candidates: no size, FLOPs or forward-activation term.
NTK_ONLY: dict[str, dict[str, str]] = {
    "backward-groups+trace": {"backward_group_decorrelation": MAX, "trace": MAX},  # ntk-only-v6
    "backward-all+zico": {"backward_group_all_decorrelation": MAX, "zico": MAX},
    "zico": {"zico": MAX},
}
NTK_INCUMBENT = "backward-groups+trace"

#: What the scorer computes on the pilot (kernel-free); the judge adds the NTK-only incumbent's.
NEEDS = [*_GROUPS, "zico", "naswot", "flops", "params"]
JUDGE_NEEDS = [*NEEDS, "backward_group_decorrelation", "trace"]

#: Reported beside the candidates (not candidates): each signal alone and the baselines.
REFERENCES: dict[str, dict[str, str]] = {name: {name: MAX} for name in NEEDS}

ROUND1_PILOT = Path(__file__).parent.parent / "results/cross_space/pilot.json"


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


def measure(spec: dict[str, Any], stage: str) -> tuple[dict[str, float], dict[str, float], int]:
    """τ and ρ of every candidate and reference on one table, its size, and (as
    ``zico~params``) ZiCo's τ with #params."""
    needs = JUDGE_NEEDS if stage == "judge" else NEEDS
    # NB201's CIFAR-10 and ImageNet16-120 tables are the same cells on the same probes
    key = (spec["space"], spec["data"], spec.get("skip"), spec.get("part"), spec.get("shard"))
    space, rows = table_rows(spec)  # read once: the archs to score and this table's target
    if key not in _CACHE:
        _CACHE[key] = _values(spec, space, [a for a, _ in rows], needs)
    values = _CACHE[key]
    accuracy = [acc for _, acc in rows]
    rules = {**CANDIDATES, **REFERENCES}
    # the NTK-only incumbent needs the kernel pass: on the pilot its figures are round 1's
    rules |= {k: v for k, v in NTK_ONLY.items() if stage == "judge" or k != NTK_INCUMBENT}
    taus, rhos = {}, {}
    for name, components in rules.items():
        score = aggregate(values, ScoreRule(name, components)).tolist()
        taus[name] = float(kendalltau(score, accuracy)[0])
        rhos[name] = float(spearmanr(score, accuracy)[0])
    zico_size = [[v["zico"] for v in values], [v["params"] for v in values]]
    taus["zico~params"] = float(kendalltau(*zico_size)[0])
    rhos["zico~params"] = float(spearmanr(*zico_size)[0])
    return taus, rhos, len(values)


def round1_specs(data: Path, c10: str, c100: str) -> dict[str, dict[str, Any]]:
    """Round 1's evaluation rows (the two thirds no rule was chosen on), scored kernel-free for
    the spaces × scores table of ``results/README.md``; nothing is chosen on them."""
    specs = specs_for("pilot", data, c10, c100)
    for spec in specs.values():
        spec.update(part="evaluation", seen=True)
    return specs


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


def decide(taus: dict[str, dict[str, float]], selected: tuple[str, str]) -> tuple[str, str]:
    """The committed decisions on the judge tables (module docstring; cost checked apart)."""
    default, ntk_only = selected
    if default != INCUMBENT:
        new, old = taus[default].values(), taus[INCUMBENT].values()
        if not (min(new) > min(old) and statistics.mean(new) >= statistics.mean(old)):
            default = INCUMBENT
    if ntk_only != NTK_INCUMBENT:
        margin = margins(taus, [ntk_only, NTK_INCUMBENT])
        if not margin[ntk_only] > margin[NTK_INCUMBENT]:
            ntk_only = NTK_INCUMBENT
    return default, ntk_only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("pilot", "judge", "round1"), required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--c10", default=str(Path.home() / ".cache/ntknas/cifar10-jpeg"))
    parser.add_argument("--c100", default=str(Path.home() / ".cache/ntknas/cifar100/cifar100/test"))
    parser.add_argument("--tables", default=None, help="a subset of the tables")
    parser.add_argument("--selected", type=Path, default=None, help="the pilot's JSON")
    parser.add_argument("--combine", type=Path, nargs="+", default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.combine:
        report = _merge(args.combine)
    else:
        if args.stage == "round1":  # round 1's evaluation rows, for results/README.md's table
            specs = round1_specs(args.data, args.c10, args.c100)
        else:
            specs = specs_for(args.stage, args.data, args.c10, args.c100)
        default_tables = [n for n, s in specs.items() if args.stage != "judge" or not s["seen"]]
        names = args.tables.split(",") if args.tables else default_tables
        report = {"stage": args.stage, "kendall_tau": {}, "spearman_rho": {}, "tables": {}}
        for table in names:
            print(table, flush=True)
            file_table(report, table, *measure(specs[table], args.stage), specs[table]["seen"])
            if args.output:  # each table as it is done: a run cut short keeps what it measured
                args.output.write_text(json.dumps(report, indent=1))
    if report["stage"] == "pilot" and args.combine:
        round1 = json.loads(ROUND1_PILOT.read_text())["kendall_tau"][NTK_INCUMBENT]
        report["kendall_tau"][NTK_INCUMBENT] = {t: round1[t] for t in report["tables"]}
    print(format_taus(report["kendall_tau"], list(report["tables"])))
    if report["stage"] == "pilot" and args.combine:
        report["selected"] = list(select(report["kendall_tau"]))
        print(f"selected: default {report['selected'][0]}, NTK-only {report['selected'][1]}")
    elif args.selected is not None:
        fresh = [t for t, info in report["tables"].items() if not info["seen_before"]]
        taus = {n: {t: v[t] for t in fresh if t in v} for n, v in report["kendall_tau"].items()}
        selected = tuple(json.loads(args.selected.read_text())["selected"])
        report["decision"] = list(decide(taus, selected))
        print(f"decision: default {report['decision'][0]}, NTK-only {report['decision'][1]}")
    report["candidates"] = CANDIDATES
    report["ntk_only_candidates"] = NTK_ONLY
    if args.output:
        args.output.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
