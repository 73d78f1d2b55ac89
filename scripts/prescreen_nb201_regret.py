"""How much PrescreenSampler(TPE) helps TPE on NAS-Bench-201, with the dev table as "training".

The universe is the dev table's cells: the 6 edge parameters of NB201 are suggested as usual,
and a cell outside the table is replaced by the nearest table cell (fewest differing edges,
then the lowest table row) — the same projection for both arms, so TPE alone and
PrescreenSampler(TPE) search the same space. The objective returns the table's accuracy of
the projected cell (what a user's long training would return). For each seed and arm, the best
accuracy found within N trials gives the regret against the table's best cell.

Scores are computed live (the default score ``ntk-agg-v4``: probe signals only, no kernel) on
real probe images and shared by all runs through one SQLite file, so each cell is scored once.

    python scripts/prescreen_nb201_regret.py ../shared/data/nb201/nb201_cifar10_dev.csv \\
        --data imagefolder:$HOME/.cache/ntknas/cifar10-jpeg --seeds 3 --trials 100 \\
        --candidates 8 --storage sqlite:////root/.cache/ntknas/bench/prescreen.db \\
        --output results/optuna/prescreen_nb201
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

import search_spaces
from ntknas.bench.table import read_table
from ntknas.optuna import PrescreenSampler
from ntknas.scorer import NTKScorer
from ntknas.study import create_storage
from search_spaces.nb201 import OPS, NB201Space, parse_arch

CHECKPOINTS = (20, 50, 100)


class TableSpace(NB201Space):
    """NB201 cells, projected onto the rows of an accuracy table."""

    name = "nb201"

    def __init__(self, archs: list[str]) -> None:
        super().__init__()
        self.archs = archs
        self.codes = np.array([[OPS.index(o) for o in parse_arch(a)] for a in archs])
        self.index = {a: i for i, a in enumerate(archs)}

    def project(self, arch: str) -> str:
        if arch in self.index:
            return arch
        code = np.array([OPS.index(o) for o in parse_arch(arch)])
        distance = (self.codes != code).sum(axis=1)
        return self.archs[int(np.argmin(distance))]  # argmin: the lowest row among ties

    def suggest(self, trial: Any) -> search_spaces.ArchSpec:
        spec = super().suggest(trial)
        return search_spaces.ArchSpec(self.name, self.project(spec.arch))

    def sample(self, rng: Any = None) -> search_spaces.ArchSpec:
        return search_spaces.ArchSpec(self.name, self._rng(rng).choice(self.archs))


def run_arm(
    arm: str,
    seed: int,
    space: TableSpace,
    accuracy: dict[str, float],
    scorer: NTKScorer,
    args: argparse.Namespace,
) -> list[float]:
    """Best accuracy after each trial."""
    tpe = optuna.samplers.TPESampler(seed=seed)
    if arm == "tpe":
        sampler: optuna.samplers.BaseSampler = tpe
    else:
        sampler = PrescreenSampler(
            space,
            scorer,
            candidates=args.candidates,
            base_sampler=tpe,
            seed=seed,
            scores_name="nb201-dev-scores",
        )
    storage = create_storage(args.storage) if args.storage else None
    study = optuna.create_study(
        study_name=f"{arm}-seed{seed}-{time.time_ns()}",
        storage=storage,
        sampler=sampler,
        direction="maximize",
    )
    study.optimize(lambda t: accuracy[space.suggest(t).arch], n_trials=args.trials)
    best, out = -np.inf, []
    for t in study.trials:
        best = max(best, t.value)
        out.append(best)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("table")
    parser.add_argument("--target", default="cifar10_test_acc")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--storage", default=None, help="keeps the shared scores (sqlite:///...)")
    parser.add_argument("--output", default=None, help="write PREFIX.json and PREFIX.md")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    table = read_table(args.table, args.target, space="nb201")
    accuracy = dict(zip(table.archs, table.accuracies))
    space = TableSpace(table.archs)
    scorer = NTKScorer(batch_size=args.batch_size, data=args.data, proxies=True)
    top = max(table.accuracies)
    curves: dict[str, list[list[float]]] = {"tpe": [], "prescreen": []}
    started = time.perf_counter()
    for seed in range(args.seeds):
        for arm in curves:
            curves[arm].append(run_arm(arm, seed, space, accuracy, scorer, args))
            print(f"seed {seed} {arm}: best {curves[arm][-1][-1]:.2f}", flush=True)
        report(curves, top, table, args, time.perf_counter() - started)  # after every seed


def report(
    curves: dict[str, list[list[float]]],
    top: float,
    table: Any,
    args: argparse.Namespace,
    seconds: float,
) -> None:
    """Print the regret table (and write it with ``--output``) for the seeds done so far."""
    checkpoints = [n for n in CHECKPOINTS if n <= args.trials]
    seeds = len(curves["prescreen"])
    summary = {
        arm: {
            str(n): {
                "regret_median": statistics.median(top - c[n - 1] for c in runs),
                "regret_per_seed": [round(top - c[n - 1], 3) for c in runs],
            }
            for n in checkpoints
        }
        for arm, runs in curves.items()
    }
    lines = [
        f"NAS-Bench-201 dev table ({len(table.archs)} cells, best {args.target} {top:.2f}); "
        f"{seeds} seeds; PrescreenSampler: {args.candidates} TPE candidates per trial, "
        f"default score on {args.data}, B={args.batch_size}",
        "",
        "| trials | TPE regret (median; per seed) | PrescreenSampler(TPE) regret (median; per seed) |",
        "|---:|---|---|",
    ]
    for n in checkpoints:
        a, b = summary["tpe"][str(n)], summary["prescreen"][str(n)]
        lines.append(
            f"| {n} | {a['regret_median']:.2f} ({', '.join(map(str, a['regret_per_seed']))}) | "
            f"{b['regret_median']:.2f} ({', '.join(map(str, b['regret_per_seed']))}) |"
        )
    lines.append("")
    lines.append(f"wall time {seconds:.0f} s")
    text = "\n".join(lines)
    print(text, flush=True)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        blob = {"args": vars(args), "top": top, "seeds_done": seeds, "summary": summary}
        out.with_suffix(".json").write_text(json.dumps(blob, indent=2) + "\n")
        options = {k: v for k, v in vars(args).items() if k != "table" and v is not None}
        command = f"python scripts/prescreen_nb201_regret.py {args.table} " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in options.items()
        )
        out.with_suffix(".md").write_text(f"```\n{command}\n```\n\n{text}\n")


if __name__ == "__main__":
    main()
