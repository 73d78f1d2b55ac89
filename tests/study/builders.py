"""Define-by-run model builders for the builder-space tests (importable as module:function)."""

from __future__ import annotations

from torch import nn


def build(trial, num_classes: int = 10) -> nn.Module:
    """A small CNN: categorical, int, float (log) and conditional parameters."""
    width = trial.suggest_categorical("width", [4, 8, 12])
    depth = trial.suggest_int("depth", 1, 2)
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
    if trial.suggest_categorical("pool", ["avg", "max"]) == "max":
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
        # conditional: only max-pooled networks have a dropout rate
        layers.append(nn.Dropout(trial.suggest_float("dropout", 1e-3, 0.5, log=True)))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    return nn.Sequential(*layers)


def tiny(trial) -> nn.Module:
    """6 architectures: a small space where random draws collide."""
    width = trial.suggest_categorical("width", [2, 4, 6])
    deep = trial.suggest_categorical("deep", [False, True])
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(3 * 4 * 4, width), nn.Tanh()]
    if deep:
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def flaky(trial) -> nn.Module:
    """Raises for one width, returns a non-module for another."""
    width = trial.suggest_categorical("width", [2, 4, 6])
    if width == 2:
        raise RuntimeError("width 2 is not supported")
    if width == 4:
        return "not a module"  # type: ignore[return-value]
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, width), nn.Tanh(), nn.Linear(width, 10))


_calls = {"n": 0}


def unstable(trial) -> nn.Module:
    """Suggests a different parameter on every call (a builder that cannot be replayed)."""
    _calls["n"] += 1
    trial.suggest_int(f"p{_calls['n']}", 1, 3)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10))
