"""prescreened(): architectures that score outside the best quarter are pruned before training;
a MedianPruner then prunes the survivors' training curves as usual.

    python examples/prescreened_median_pruner.py --trials 16
"""

from __future__ import annotations

import argparse

import optuna
import torch
from torch import nn

import search_spaces
from ntknas.data import load_dataset
from ntknas.optuna import prescreened
from ntknas.scorer import NTKScorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--keep", type=float, default=0.25)
    args = parser.parse_args()

    space = search_spaces.create_search_space("nb201", cells=1)  # a small NAS-Bench-201 network
    scorer = NTKScorer(batch_size=32, data=args.data, proxies=True)
    train = load_dataset(args.data, split="train", synthetic_size=1024)

    def objective(trial: optuna.Trial) -> float:
        model = space.build(space.suggest(trial))  # the same architecture prescreened scored
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        g = torch.Generator().manual_seed(0)
        for step in range(40):
            idx = torch.randint(len(train), (64,), generator=g)
            x = train.images[idx].float().div(255) - 0.5
            loss = nn.functional.cross_entropy(model(x), train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            trial.report(float(loss), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"loss {float(loss):.3f} at step {step}")
        return float(loss)

    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_warmup_steps=10),
    )
    study.optimize(
        prescreened(objective, space, scorer, keep=args.keep, warmup=4), n_trials=args.trials
    )
    states = [t.state.name for t in study.trials]
    print({s: states.count(s) for s in set(states)})
    for t in study.trials:
        frac = t.user_attrs.get("ntknas:prescreen_rank_fraction")
        print(f"trial {t.number}: {t.state.name:<8} score rank {frac:.0%} down  value {t.value}")


if __name__ == "__main__":
    main()
