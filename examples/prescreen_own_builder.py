"""Your own define-by-run CNN builder, PrescreenSampler(TPE), and a tiny training objective.

Each trial of the study trains one network for a few steps; PrescreenSampler has already picked
it as the best training-free score among 6 candidates that TPE proposed. Runs on CPU in about a
minute on synthetic images; pass --data imagefolder:DIR for real ones.

    python examples/prescreen_own_builder.py --trials 8
"""

from __future__ import annotations

import argparse

import optuna
import torch
from torch import nn

from ntknas.data import load_dataset
from ntknas.optuna import PrescreenSampler, from_builder
from ntknas.scorer import NTKScorer


def build(trial: optuna.Trial, num_classes: int = 10) -> nn.Module:
    """A plain CNN: width, depth, kernel size, and a conditional dropout rate."""
    width = trial.suggest_categorical("width", [16, 32, 48])
    depth = trial.suggest_int("depth", 1, 3)
    kernel = trial.suggest_categorical("kernel", [3, 5])
    layers: list[nn.Module] = []
    c = 3
    for _ in range(depth):
        layers += [
            nn.Conv2d(c, width, kernel, padding=kernel // 2),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        layers.append(nn.MaxPool2d(2))
        c = width
    if trial.suggest_categorical("dropout", [False, True]):
        layers.append(nn.Dropout(trial.suggest_float("rate", 0.1, 0.5)))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--steps", type=int, default=30, help="training steps per trial")
    args = parser.parse_args()

    space = from_builder(build, name="my-cnn")
    scorer = NTKScorer(batch_size=32, data=args.data, proxies=True)  # the default score's signals
    sampler = PrescreenSampler(
        space, scorer, candidates=6, base_sampler=optuna.samplers.TPESampler(seed=0), seed=0
    )
    train = load_dataset(args.data, split="train", synthetic_size=1024)
    test = load_dataset(args.data, split="test", synthetic_size=512)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 3e-2, log=True)  # not an architecture parameter
        model = build(trial)  # the architecture PrescreenSampler chose
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        g = torch.Generator().manual_seed(trial.number)
        for _ in range(args.steps):
            idx = torch.randint(len(train), (64,), generator=g)
            x = train.images[idx].float().div(255) - 0.5
            loss = nn.functional.cross_entropy(model(x), train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            x = test.images.float().div(255) - 0.5
            return float((model(x).argmax(1) == test.labels).float().mean())

    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=args.trials)
    for t in study.trials:
        print(
            f"trial {t.number}: accuracy {t.value:.3f}  score {t.user_attrs['ntknas:prescreen_score']:+.2f}"
            f"  {t.user_attrs['ntknas:prescreen_arch']}"
        )
    print("best:", study.best_trial.params)


if __name__ == "__main__":
    main()
