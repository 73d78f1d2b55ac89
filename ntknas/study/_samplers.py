"""Optuna samplers by name."""

from __future__ import annotations

import warnings

import optuna

from ntknas.config import SAMPLERS


def create_sampler(
    name: str, *, seed: int | None = 0, n_objectives: int = 1, constraints: bool = False
) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name: ``tpe``, ``random``, ``qmc``, ``nsga2`` (multi-objective) or
    ``bruteforce`` (every point of a finite space once). With ``constraints`` the samplers that
    support it read the trial constraints set by :func:`ntknas.study.make_objective`.

    Example:
        >>> type(create_sampler("random", seed=1)).__name__
        'RandomSampler'
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _create(name, seed, constraints)


def _create(name: str, seed: int | None, constraints: bool) -> optuna.samplers.BaseSampler:
    constraints_func = _trial_constraints if constraints else None
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            constraints_func=constraints_func,
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints_func)
    if name == "bruteforce":
        return optuna.samplers.BruteForceSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLERS)}")


def _trial_constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
    return [value for _, value in sorted(trial.constraints.items())] or [0.0]
