"""ntknas for Optuna users: training-free components for *your* studies.

* :func:`from_builder`: your define-by-run ``build(trial) -> nn.Module`` as a search space;
* :class:`PrescreenSampler`: each trial gets the best training-free-scored of K candidates;
* :func:`prescreened`: your objective, pruned before training when the architecture scores
  outside the best fraction so far;
* :func:`make_objective` / :func:`screen`: the training-free score itself as an objective.

Example:
    >>> import optuna, torch
    >>> from ntknas.optuna import PrescreenSampler, from_builder
    >>> from ntknas.scorer import NTKScorer
    >>> def build(trial):
    ...     width = trial.suggest_int("width", 4, 16, step=4)
    ...     return torch.nn.Sequential(torch.nn.Conv2d(3, width, 3), torch.nn.ReLU(),
    ...         torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(width, 10))
    >>> space = from_builder(build, name="tiny", input_shape=(3, 8, 8))
    >>> sampler = PrescreenSampler(space, NTKScorer(batch_size=4), candidates=2,
    ...                            score="log_cond", seed=0)
    >>> study = optuna.create_study(sampler=sampler, direction="maximize")
    >>> study.optimize(lambda trial: float(sum(p.numel() for p in build(trial).parameters())),
    ...                n_trials=2)
    >>> len(study.trials)
    2
"""

from __future__ import annotations

from ntknas.study._objective import make_objective
from ntknas.study._prescreen import PrescreenSampler, SharedScores, prescreened
from ntknas.study._screen import screen
from search_spaces.builder import BuilderError, BuilderSpace, from_builder

__all__ = [
    "BuilderError",
    "BuilderSpace",
    "PrescreenSampler",
    "SharedScores",
    "from_builder",
    "make_objective",
    "prescreened",
    "screen",
]
