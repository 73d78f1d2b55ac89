"""Issue #18, sixth round: decorrelation that counts width, in place of the FLOPs term.

Fixed (and committed) before any candidate below was scored on any space or table:

* **Question.** ``ntk-agg-v7`` reads each layer's decorrelation as the *mean* λmin of random
  groups of 8 channels, summed over layers: depth counts, width does not; size enters only
  through the FLOPs term, which lifts the tables where larger is better (PiT, NB201) and lowers
  those where it is not (NAS-Bench-Macro, AutoFormer; each decorrelation component alone ranks
  those better than the rule). Read instead the *sum* over a layer's groups (how many
  decorrelated groups of 8 channels the layer has: wide layers of redundant channels count
  little, wide layers of decorrelated channels count much), or that sum times the layer's
  positions per image (decorrelated groups × positions, a FLOPs-like count that redundancy
  discounts). ``GroupReading.sum_over`` in ``ntknas/proxies/decorrelation.py``; the same groups
  and eigenvalues as ``*_group_all_decorrelation``, so no extra cost.
* **Default candidates** (``ROUND6.candidates``; unweighted rank aggregation Σ log(rank/N), as
  ``ntk-agg-v7``): the incumbent ``groups-all+flops`` (``ntk-agg-v7``); ``groups-sum`` (both
  factors summed over groups, no FLOPs); ``groups-sum+flops``; ``groups-sum-positions`` (both
  summed over groups and positions, no FLOPs).
* **NTK-only candidates** (``ROUND6.all_ntk_only``; no size, FLOPs or forward-activation term): the
  incumbent ``ntk-only-v6`` (backward groups + Θ's trace; its pilot figures are round 1's on
  the same rows); the backward factor summed over groups; summed over groups and positions.
  The summed readings grow with width by construction, so the report gives each one's Kendall
  τ with #params (``<name>~params``) beside its τ with accuracy.
* **Pilot** (``--stage pilot``, where the rules are chosen): round 1's pilot rows (NB201 three
  targets, NB101, NAS-Bench-Macro, AutoFormer kd, PiT base / kd), as rounds 2–5.
  **Selected default**: the highest minimum Kendall τ over the pilot tables; the incumbent if
  within 0.005. **Selected NTK-only**: the highest minimum of τ − τ(#params) over the pilot
  tables; the incumbent if within 0.005.
* **Judge** (``--stage judge``; after the selections are committed). Fresh: NAS-Bench-201 300
  dev cells after rounds 1–5's 1,100 (``skip=1100``; C10 and IN16 targets on CIFAR-10 probes,
  C100 on CIFAR-100 probes). Seen (no rule of this round was chosen on them, earlier rounds
  judged there; every other table has no fresh rows left): NAS-Bench-Macro's last 300 rows
  (``skip=1200``, round 5's judge), NB101 ``shard 1/2``, AutoFormer kd and PiT base / kd round
  1's evaluation part. Θ's trace (the kernel pass) is computed on NB201 and NAS-Bench-Macro
  only if the NTK-only selection is not the incumbent. Same probes, batch sizes, seed (0).
* **Decision**: a default selection other than the incumbent replaces ``ntk-agg-v7`` (as
  ``ntk-agg-v8``) only if its minimum τ over all the judge tables is above the incumbent's, its
  mean τ over them at least the incumbent's, its mean over the fresh tables at least the
  incumbent's, and its cost within issue #18's budget (≤ 2× one training step). An NTK-only
  selection other than the incumbent replaces ``ntk-only-v6`` (as ``ntk-only-v7``) only if its
  minimum τ − τ(#params) over the NB201 and NAS-Bench-Macro judge tables is above the
  incumbent's. Everything is reported whatever the outcome.

Run::

    cd experiments
    python cross_space_round6.py --stage pilot --tables nb201-c10,nb201-c100,nb201-in16,nb101 --output A.json &
    python cross_space_round6.py --stage pilot --tables nbmacro,autoformer-kd,pit-base,pit-kd --output B.json; wait
    python cross_space_round6.py --stage pilot --combine A.json B.json --output ../results/cross_space/round6_pilot.json
    # the same with --stage judge (--selected ../results/cross_space/round6_pilot.json on
    # each part and on --combine)
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cross_space_round3 import _merge, file_table, format_taus, table_rows
from cross_space_round4 import specs_for
from cross_space_round5 import _values, margins
from scipy.stats import kendalltau, spearmanr

from ntknas.combined_scores import ScoreRule, aggregate

MAX = "maximize"

ROUND1_PILOT = Path(__file__).parent.parent / "results/cross_space/pilot.json"

#: The NTK-only incumbent (``ntk-only-v6``): it needs the kernel pass's trace.
NTK_INCUMBENT = "backward-groups+trace"
NTK_INCUMBENT_RULE = {"backward_group_decorrelation": MAX, "trace": MAX}
KERNEL_NEEDS = list(NTK_INCUMBENT_RULE)

#: The default incumbent (``ntk-agg-v7``).
INCUMBENT = "groups-all+flops"


def group_pair(suffix: str) -> dict[str, str]:
    """Both factors' group signal of one :data:`~ntknas.proxies.decorrelation.GROUP_SIZES`
    reading, maximized."""
    return {f"{f}_group{suffix}_decorrelation": MAX for f in ("feature", "backward")}


_CACHE: dict[tuple, list[dict[str, float]]] = {}


@dataclass(frozen=True)
class Round:
    """One round of the committed protocol (module docstring): its candidates, what is
    computed, and the fresh NB201 rows of its judge (``judge_skip``); the selections, the
    judge tables and the decision rule are the same for every round that uses it.

    ``candidates``: default candidates (name → components; the first is the incumbent);
    ``ntk_only``: NTK-only challengers (the incumbent ``ntk-only-v6`` is added);
    ``needs``: the kernel-free signals computed; ``with_params``: signals whose τ with #params
    is reported (as ``<name>~params``).
    """

    candidates: dict[str, dict[str, str]]
    ntk_only: dict[str, dict[str, str]]
    needs: list[str]
    with_params: list[str]
    judge_skip: int
    all_ntk_only: dict[str, dict[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        assert next(iter(self.candidates)) == INCUMBENT, "the incumbent comes first"
        object.__setattr__(
            self, "all_ntk_only", {NTK_INCUMBENT: NTK_INCUMBENT_RULE, **self.ntk_only}
        )

    @property
    def references(self) -> dict[str, dict[str, str]]:
        """Reported beside the candidates (not candidates): each signal alone, the baselines."""
        return {name: {name: MAX} for name in self.needs}

    def judge_specs(self, data: Path, c10: str, c100: str) -> dict[str, dict[str, Any]]:
        """The judge tables: NB201 fresh after ``judge_skip``, the rest seen."""
        specs = specs_for("judge", data, c10, c100)
        for spec in specs.values():
            if spec["space"] == "nb201":
                spec.update(skip=self.judge_skip, n=300, part=None, seen=False)
            elif spec["space"] == "nbmacro":
                spec.update(skip=1200, n=300, part=None, seen=True)
        return specs

    def measure(
        self, spec: dict[str, Any], with_kernel: bool
    ) -> tuple[dict[str, float], dict[str, float], int]:
        """τ and ρ of every candidate and reference on one table, its size, and each of
        ``with_params``' τ with #params."""
        needs = [*self.needs, *KERNEL_NEEDS] if with_kernel else self.needs
        # NB201's CIFAR-10 and ImageNet16-120 tables are the same cells on the same probes
        key = (spec["space"], spec["data"], spec.get("skip"), spec.get("part"), spec.get("shard"))
        space, rows = table_rows(spec)  # read once: the archs to score and this table's target
        if key not in _CACHE:
            _CACHE[key] = _values(spec, space, [a for a, _ in rows], needs)
        values = _CACHE[key]
        accuracy = [acc for _, acc in rows]
        rules = {**self.candidates, **self.references}
        rules |= {k: v for k, v in self.all_ntk_only.items() if with_kernel or k != NTK_INCUMBENT}
        taus, rhos = {}, {}
        for name, components in rules.items():
            score = aggregate(values, ScoreRule(name, components)).tolist()
            taus[name] = float(kendalltau(score, accuracy)[0])
            rhos[name] = float(spearmanr(score, accuracy)[0])
        for name in self.with_params:
            pair = [[v[name] for v in values], [v["params"] for v in values]]
            taus[f"{name}~params"] = float(kendalltau(*pair)[0])
            rhos[f"{name}~params"] = float(spearmanr(*pair)[0])
        return taus, rhos, len(values)

    def select(self, taus: dict[str, dict[str, float]]) -> tuple[str, str]:
        """The committed pilot selections: the default and the NTK-only rule."""
        worst = {name: min(taus[name].values()) for name in self.candidates}
        best = max(worst, key=worst.get)
        default = INCUMBENT if worst[best] <= worst[INCUMBENT] + 0.005 else best
        margin = margins(taus, list(self.all_ntk_only))
        best = max(margin, key=margin.get)
        ntk_only = NTK_INCUMBENT if margin[best] <= margin[NTK_INCUMBENT] + 0.005 else best
        return default, ntk_only

    def decide(
        self, taus: dict[str, dict[str, float]], fresh: list[str], selected: tuple[str, str]
    ) -> tuple[str, str]:
        """The committed decisions on the judge tables (cost checked apart)."""
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
            kernel_tables = list(taus[NTK_INCUMBENT])
            both = {n: {t: taus[n][t] for t in kernel_tables} for n in (ntk_only, NTK_INCUMBENT)}
            margin = margins({**both, "params": taus["params"]}, [ntk_only, NTK_INCUMBENT])
            if not margin[ntk_only] > margin[NTK_INCUMBENT]:
                ntk_only = NTK_INCUMBENT
        return default, ntk_only

    def main(self, description: str) -> None:
        """The command line (module docstring's Run)."""
        parser = argparse.ArgumentParser(description=description.splitlines()[0])
        parser.add_argument("--stage", choices=("pilot", "judge"), required=True)
        parser.add_argument("--data", type=Path, default=Path("../shared/data"))
        parser.add_argument("--c10", default=str(Path.home() / ".cache/ntknas/cifar10-jpeg"))
        parser.add_argument(
            "--c100", default=str(Path.home() / ".cache/ntknas/cifar100/cifar100/test")
        )
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
                specs = self.judge_specs(args.data, args.c10, args.c100)
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
                file_table(report, table, *self.measure(spec, with_kernel), spec["seen"])
                if args.output:  # each table as it is done: a run cut short keeps what it has
                    args.output.write_text(json.dumps(report, indent=1))
        if report["stage"] == "pilot" and args.combine:
            round1 = json.loads(ROUND1_PILOT.read_text())["kendall_tau"][NTK_INCUMBENT]
            report["kendall_tau"][NTK_INCUMBENT] = {t: round1[t] for t in report["tables"]}
        print(format_taus(report["kendall_tau"], list(report["tables"])))
        if report["stage"] == "pilot" and args.combine:
            report["selected"] = list(self.select(report["kendall_tau"]))
            print(f"selected: default {report['selected'][0]}, NTK-only {report['selected'][1]}")
        elif selected is not None and args.combine:
            fresh = [t for t, info in report["tables"].items() if not info["seen_before"]]
            report["decision"] = list(self.decide(report["kendall_tau"], fresh, selected))
            print(f"decision: default {report['decision'][0]}, NTK-only {report['decision'][1]}")
        report["candidates"] = self.candidates
        report["ntk_only_candidates"] = self.all_ntk_only
        if args.output:
            args.output.write_text(json.dumps(report, indent=1))


#: Round 6: the decorrelation readings summed over groups (and positions).
ROUND6 = Round(
    candidates={
        INCUMBENT: {**group_pair("_all"), "flops": MAX},  # ntk-agg-v7
        "groups-sum": group_pair("_sum"),
        "groups-sum+flops": {**group_pair("_sum"), "flops": MAX},
        "groups-sum-positions": group_pair("_sum_positions"),
    },
    ntk_only={
        "backward-sum": {"backward_group_sum_decorrelation": MAX},
        "backward-sum-positions": {"backward_group_sum_positions_decorrelation": MAX},
    },
    needs=[
        *group_pair("_all"),
        *group_pair("_sum"),
        *group_pair("_sum_positions"),
        "naswot",
        "flops",
        "params",
    ],
    with_params=[
        *group_pair("_sum"),
        *group_pair("_sum_positions"),
    ],
    judge_skip=1100,
)


if __name__ == "__main__":
    ROUND6.main(__doc__)
