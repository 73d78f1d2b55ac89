"""Several worker processes share one study (and its training-free scores) on a Journal file.

Every worker runs the same PrescreenSampler study; scores live in the study's companion
``<study>.ntknas-scores`` in the same file, so no architecture is scored twice.

    python examples/journal_workers.py --workers 2 --trials 6 --journal /tmp/prescreen.journal
"""

from __future__ import annotations

import argparse
import multiprocessing

import optuna

import search_spaces
from ntknas.optuna import PrescreenSampler
from ntknas.scorer import NTKScorer
from ntknas.study import create_storage


def worker(journal: str, trials: int, seed: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = search_spaces.create_search_space("nb201", cells=1)
    sampler = PrescreenSampler(
        space, NTKScorer(batch_size=16, proxies=True), candidates=4, seed=seed
    )
    storage = create_storage(f"journal:{journal}", workers=2)
    study = optuna.load_study(study_name="prescreen", storage=storage, sampler=sampler)
    # stands in for training: fewer parameters is "better" here
    study.optimize(lambda t: float(space.cost(space.suggest(t)).params), n_trials=trials)
    print(f"worker {seed}: scored {len(sampler.shared_scores(study).scored_here)} architectures")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=6, help="trials per worker")
    parser.add_argument("--journal", default="prescreen.journal")
    args = parser.parse_args()
    storage = create_storage(f"journal:{args.journal}", workers=args.workers)
    optuna.create_study(study_name="prescreen", storage=storage, load_if_exists=True)
    procs = [
        multiprocessing.Process(target=worker, args=(args.journal, args.trials, seed))
        for seed in range(args.workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    study = optuna.load_study(study_name="prescreen", storage=storage)
    print(f"{len(study.trials)} trials; best {study.best_value} with {study.best_params}")


if __name__ == "__main__":
    main()
