"""Screen → train: the best screened architectures go to short training runs in a second study."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from ntknas.data import ImageData
from ntknas.study._objective import ATTR_PREFIX
from ntknas.train import check_resolution, train_short
from search_spaces import SearchSpace, create_search_space


class NotEnqueuedError(RuntimeError):
    """A training trial that was not enqueued (or whose architecture another trial trains)."""


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


def trained_copy(space: SearchSpace, space_options: dict[str, Any] | None = None) -> SearchSpace:
    """The space whose networks a training run trains: ``space`` with ``space_options``
    overriding its options (a narrower or shallower copy, e.g. NB201 with 8 channels and one
    cell per stage). ``ValueError`` names an option the space does not have or a bad value.

    Example:
        >>> from search_spaces import create_search_space
        >>> trained_copy(create_search_space("nb201"), {"cells": 1}).options()
        {'channels': 16, 'cells': 1}
    """
    if not space_options:
        return space
    return create_search_space(space.name, **{**space.options(), **space_options})


def build_trained_model(
    space: SearchSpace,
    arch: str,
    num_classes: int,
    *,
    seed: int = 0,
    space_options: dict[str, Any] | None = None,
) -> torch.nn.Module:
    """The network of ``arch`` as a training run trains it: built from :func:`trained_copy` with
    the global RNG seeded by ``seed`` (and restored afterwards), so every run of one seed starts
    from the same weights."""
    copy = trained_copy(space, space_options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return copy.build(copy.parse(arch), num_classes=num_classes)


def check_trained_copy(space: Any, arch: str, data: Any, options: dict[str, Any]) -> None:
    """``ValueError`` naming the key when the trained copy cannot be built or cannot take the
    training resolution, before any training starts."""
    try:
        model = build_trained_model(
            space, arch, data.num_classes, space_options=options.get("space_options")
        )
    except (ValueError, TypeError) as error:
        raise ValueError(f"key 'train.space_options': {error}") from None
    resolution = options.get("resolution") or data.images.shape[-1]
    try:
        check_resolution(model, resolution)
    except ValueError as error:
        raise ValueError(f"key 'train.resolution': {error}") from None


def _claim(trial: optuna.Trial) -> None:
    """Refuse trials that were not enqueued, and the second of two trials that popped the same
    enqueued architecture (a race some storages allow)."""
    attrs = trial.user_attrs
    if ATTR_PREFIX + "arch" not in attrs:
        raise NotEnqueuedError(
            f"training trial {trial.number} names no architecture (not enqueued); use "
            "enqueue_top_k() or enqueue_for_training() before optimizing the training study"
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
    *,
    scorer: Any | None = None,
    kernel_evolution: bool = False,
    **train_options: Any,
) -> Callable[[optuna.Trial], float]:
    """An objective that trains the architecture an enqueued trial names and returns its final
    test accuracy (maximize). Each epoch's accuracy is reported with ``trial.report`` so pruners
    work; trials that were not enqueued are refused (:class:`NotEnqueuedError`). The trial
    records its owner process (so a dead worker's trial is failed and retried on every
    storage), the training curve and its wall and CPU seconds.

    Args:
        scorer: also score the architecture (an :class:`~ntknas.NTKScorer`) and record its
            training-free metrics on the trial (``ntknas validate``).
        kernel_evolution: also record how the NTK on the scorer's probe batch changes after
            every epoch (:class:`~ntknas.theory.evolution.KernelEvolution`; needs ``scorer``).
        train_options: :func:`ntknas.train.train_short`'s options (epochs, batch_size, lr,
            subset, seed, device, resolution, ...) and ``space_options``, the options of the
            trained copy (:func:`trained_copy`).

    Example:
        >>> from ntknas.data import synthetic
        >>> from search_spaces import create_search_space
        >>> objective = make_train_objective(
        ...     create_search_space("nb201"), synthetic(8), synthetic(8, split="test"), epochs=1
        ... )
    """
    from ntknas.study._heartbeat import OWNER_ATTR, this_process

    train_options = dict(train_options)
    space_options = train_options.pop("space_options", None)
    trained_copy(space, space_options)  # a bad option fails here, before any trial runs
    if kernel_evolution and scorer is None:
        raise ValueError("kernel_evolution needs a scorer (its probe batch and kernel settings)")

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr(
            OWNER_ATTR, this_process()
        )  # first: a retried trial names its new owner
        _claim(trial)
        arch = trial.user_attrs[ATTR_PREFIX + "arch"]
        model = build_trained_model(
            space,
            arch,
            train_data.num_classes,
            seed=int(train_options.get("seed", 0)),
            space_options=space_options,
        )
        if scorer is not None:
            for key, value in score_attributes(scorer, space, arch).items():
                trial.set_user_attr(key, value)
        tracker = _kernel_tracker(scorer, model) if kernel_evolution else None

        def on_epoch(epoch: int, accuracy: float) -> None:
            if tracker is not None:
                tracker.record(model)
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} at {accuracy:.2f}%")

        result = train_short(model, train_data, test_data, on_epoch=on_epoch, **train_options)
        trial.set_user_attr(ATTR_PREFIX + "epoch_accuracies", result.epoch_accuracies)
        trial.set_user_attr(ATTR_PREFIX + "train_seconds", round(result.seconds, 3))
        trial.set_user_attr(ATTR_PREFIX + "train_cpu_seconds", round(result.cpu_seconds, 3))
        trial.set_user_attr(ATTR_PREFIX + "train_images", result.train_images)
        if tracker is not None:
            trial.set_user_attr(ATTR_PREFIX + "kernel_change", tracker.changes)
            trial.set_user_attr(ATTR_PREFIX + "kernel_alignment_epochs", tracker.alignments)
        return result.final_accuracy

    return objective


def score_attributes(scorer: Any, space: SearchSpace, arch: str) -> dict[str, Any]:
    """The trial attributes of an architecture's training-free scores: ``ntknas:params``,
    ``ntknas:flops``, ``ntknas:degenerate``, ``ntknas:metrics`` (JSON, NaN as null) and
    ``ntknas:scorer_settings`` (JSON), the schema ``ntknas validate`` reads back."""
    import json

    result = scorer.score(space, arch)
    return {
        ATTR_PREFIX + "params": result.params,
        ATTR_PREFIX + "flops": result.flops,
        ATTR_PREFIX + "degenerate": result.degenerate,
        ATTR_PREFIX + "metrics": json.dumps(
            {k: (v if v == v else None) for k, v in result.metrics.items()}
        ),
        ATTR_PREFIX + "scorer_settings": json.dumps(scorer.settings(), sort_keys=True),
    }


def _kernel_tracker(scorer: Any, model: torch.nn.Module) -> Any:
    from ntknas.theory.evolution import KernelEvolution

    x_probe, y_probe = scorer.probe
    tracker = KernelEvolution(
        x_probe,
        y_probe,
        {
            "kernel": "trace" if scorer.kernel == "full" else scorer.kernel,
            "bn": scorer.bn,
            "params": scorer.params,
            "implementation": scorer.implementation,
        },
        num_classes=scorer.num_classes,
    )
    tracker.record(model.to(scorer.device))
    return tracker


def enqueue_for_training(
    study: optuna.Study, space: SearchSpace, archs: list[str], **attrs: Any
) -> list[str]:
    """Enqueue each architecture that has no trial in ``study`` yet (in any state: a dead
    worker's trial is retried by :func:`~ntknas.study.fail_stale`, a failed run is not rerun);
    each trial carries ``ntknas:arch``, ``ntknas:hash`` and ``attrs`` (prefixed). Safe to call
    again and from several processes. Returns the architectures enqueued."""
    present = {t.user_attrs.get(ATTR_PREFIX + "hash") for t in study.get_trials(deepcopy=False)}
    enqueued = []
    for arch in archs:
        h = space.parse(arch).hash
        if h in present:
            continue
        study.enqueue_trial(
            {},
            user_attrs={
                ATTR_PREFIX + "arch": space.parse(arch).arch,
                ATTR_PREFIX + "hash": h,
                **{ATTR_PREFIX + k: v for k, v in attrs.items()},
            },
        )
        present.add(h)
        enqueued.append(arch)
    return enqueued


def create_pruner(name: str) -> optuna.pruners.BasePruner:
    """``none``, ``median`` or ``hyperband``."""
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    raise ValueError(f"unknown pruner {name!r}; allowed: none, median, hyperband")
