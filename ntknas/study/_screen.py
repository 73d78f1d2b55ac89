"""Batched ask-and-tell screening on any Optuna storage, shared by any number of workers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import optuna
from optuna.trial import TrialState

from ntknas.scorer import NTKScorer
from ntknas.study._heartbeat import ask, fail_stale, heartbeats
from ntknas.study._objective import (
    ATTR_PREFIX,
    Budget,
    DegenerateKernelError,
    ScoreCache,
    evaluate_spec,
)
from search_spaces import SearchSpace


def accounted_trials(study: optuna.Study) -> int:
    """Trials that count towards the study's target: finished, running or waiting, except
    failed trials that were retried (a retry replaces its original)."""
    trials = study.get_trials(deepcopy=False)
    retried: set[int] = set()
    for t in trials:
        retried.update(t.system_attrs.get("retry_history", []))
    return sum(1 for t in trials if not (t.state == TrialState.FAIL and t.number in retried))


def screen(
    study: optuna.Study,
    space: SearchSpace,
    scorer: NTKScorer,
    *,
    n_trials: int,
    objectives: Sequence[str] = ("log_cond",),
    batch: int = 8,
    budget: Budget | None = None,
    cache: ScoreCache | None = None,
    progress: bool = False,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> int:
    """Run batched ask-and-tell screening until ``study`` holds ``n_trials`` accounted trials.

    Each round asks up to ``batch`` trials, turns each into an architecture with
    ``space.suggest``, scores the batch, and tells the results. Works the same for one process or
    many workers sharing the study: each round only asks for what is still missing. Trials that
    raise (a degenerate kernel, out of memory, NaN) are told FAIL with the reason in
    ``ntknas:fail_reason``; the study goes on. A scorer that leaves out what an objective needs
    (``proxies``, ``heldout``) is refused up front with a ``ValueError``.

    Returns:
        The number of trials this call finished.

    Example:
        >>> import search_spaces
        >>> study = optuna.create_study(direction="minimize")
        >>> space = search_spaces.create_search_space("nb201")
        >>> screen(study, space, NTKScorer(batch_size=8), n_trials=3, batch=2)
        3
    """
    scorer.check_computes(objectives)
    cache = cache if cache is not None else ScoreCache()
    cache.warm(study)
    done = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_trials, initial=min(n_trials, accounted_trials(study)), unit="arch")
    try:
        while True:
            fail_stale(study)
            missing = n_trials - accounted_trials(study)
            waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
            k = min(batch, max(missing, 0) + waiting)
            if k <= 0:
                break
            trials = [ask(study) for _ in range(k)]
            with heartbeats(study, [t._trial_id for t in trials]):
                for trial in trials:
                    _run_one(study, trial, space, scorer, objectives, budget, cache)
                    done += 1
                    if bar is not None and bar.n < n_trials:
                        bar.update(1)
                    if on_trial is not None:
                        on_trial(study._storage.get_trial(trial._trial_id))
    finally:
        if bar is not None:
            bar.close()
    return done


def _run_one(
    study: optuna.Study,
    trial: optuna.Trial,
    space: SearchSpace,
    scorer: NTKScorer,
    objectives: Sequence[str],
    budget: Budget | None,
    cache: ScoreCache,
) -> None:
    try:
        spec = space.suggest(trial)
        values = evaluate_spec(trial, spec, space, scorer, objectives, budget=budget, cache=cache)
        if any(not math.isfinite(v) for v in values):
            raise FloatingPointError(f"objective values {values} are not finite")
    except (DegenerateKernelError, RuntimeError, FloatingPointError, ValueError) as error:
        reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
        if isinstance(error, RuntimeError) and "out of memory" in str(error).lower():
            reason = f"out of memory: {str(error).splitlines()[0][:200]}"
            _free_cuda_memory()
        trial.set_user_attr(ATTR_PREFIX + "fail_reason", reason)
        study.tell(trial, state=TrialState.FAIL)
        return
    study.tell(trial, values)


def _free_cuda_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
