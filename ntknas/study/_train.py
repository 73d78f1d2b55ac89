"""Screen → train: the best screened architectures go to short training runs in a second study."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from ntknas.data import ImageData
from ntknas.study._objective import ATTR_PREFIX
from ntknas.train import train_short
from search_spaces import SearchSpace


class NotEnqueuedError(RuntimeError):
    """A training trial that was not enqueued from a screening study (or was claimed twice)."""


def top_trials(
    study: optuna.Study, k: int, metric: str | None = None
) -> list[optuna.trial.FrozenTrial]:
    """The ``k`` best completed trials of a screening study, one per architecture, in the order
    of the study's final ranking (:func:`~ntknas.study.ranking_rows`, the order of
    ``ranking.csv``): a combined score ranks the whole final population (not the value each
    trial had when it ran); a multi-objective study puts its Pareto front first, in the
    ranking's order.
    """
    from ntknas.study._report import ranking_rows

    trials = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    ranked = [r for r in ranking_rows(study, metric) if r["rank"] is not None]
    return [trials[r["trial"]] for r in ranked[:k]]


def enqueue_top_k(
    screen_study: optuna.Study, train_study: optuna.Study, k: int, metric: str | None = None
) -> list[int]:
    """Enqueue the ``k`` best screened architectures into ``train_study``; each enqueued trial
    carries ``ntknas:arch``, ``ntknas:hash``, ``ntknas:screen_study`` and
    ``ntknas:screen_trial`` (the screening trial's number). Architectures already enqueued are
    skipped, so calling it again is safe. Returns the screening trial numbers enqueued."""
    present = {
        t.user_attrs.get(ATTR_PREFIX + "hash") for t in train_study.get_trials(deepcopy=False)
    }
    enqueued = []
    for t in top_trials(screen_study, k, metric):
        h = t.user_attrs[ATTR_PREFIX + "hash"]
        if h in present:
            continue
        train_study.enqueue_trial(
            {},
            user_attrs={
                ATTR_PREFIX + "arch": t.user_attrs[ATTR_PREFIX + "arch"],
                ATTR_PREFIX + "hash": h,
                ATTR_PREFIX + "screen_study": screen_study.study_name,
                ATTR_PREFIX + "screen_trial": t.number,
                ATTR_PREFIX + "screen_score": t.values[0],
            },
        )
        enqueued.append(t.number)
    return enqueued


def _claim(trial: optuna.Trial) -> None:
    """Refuse trials that were not enqueued, and the second of two trials that popped the same
    enqueued architecture (a race some storages allow)."""
    attrs = trial.user_attrs
    if ATTR_PREFIX + "screen_trial" not in attrs:
        raise NotEnqueuedError(
            f"training trial {trial.number} was not enqueued from a screening study; "
            "use enqueue_top_k() before optimizing the training study"
        )
    mine = attrs[ATTR_PREFIX + "hash"]
    study = trial.study
    for other in study.get_trials(deepcopy=False):
        if other.number == trial.number or other.user_attrs.get(ATTR_PREFIX + "hash") != mine:
            continue
        if other.state == TrialState.COMPLETE or (
            other.state == TrialState.RUNNING and other.number < trial.number
        ):
            raise NotEnqueuedError(
                f"architecture {attrs[ATTR_PREFIX + 'arch']} is already trained by trial "
                f"{other.number}"
            )


def make_train_objective(
    space: SearchSpace,
    train_data: ImageData,
    test_data: ImageData,
    **train_options: Any,
) -> Callable[[optuna.Trial], float]:
    """An objective that trains the architecture an enqueued trial names and returns its final
    test accuracy (maximize). Each epoch's accuracy is reported with ``trial.report`` so pruners
    work; trials that were not enqueued are refused (:class:`NotEnqueuedError`).

    ``train_options`` go to :func:`ntknas.train.train_short` (epochs, batch_size, lr, subset,
    seed, device, ...).
    """

    def objective(trial: optuna.Trial) -> float:
        _claim(trial)
        arch = trial.user_attrs[ATTR_PREFIX + "arch"]
        seed = int(train_options.get("seed", 0))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = space.build(space.parse(arch), num_classes=train_data.num_classes)

        def on_epoch(epoch: int, accuracy: float) -> None:
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} at {accuracy:.2f}%")

        result = train_short(model, train_data, test_data, on_epoch=on_epoch, **train_options)
        trial.set_user_attr(ATTR_PREFIX + "epoch_accuracies", result.epoch_accuracies)
        trial.set_user_attr(ATTR_PREFIX + "train_seconds", round(result.seconds, 3))
        trial.set_user_attr(ATTR_PREFIX + "train_images", result.train_images)
        return result.final_accuracy

    return objective


def create_pruner(name: str) -> optuna.pruners.BasePruner:
    """``none``, ``median`` or ``hyperband``."""
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    raise ValueError(f"unknown pruner {name!r}; allowed: none, median, hyperband")
