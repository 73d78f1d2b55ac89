"""Batched ask-and-tell screening on any Optuna storage, shared by any number of workers."""

from __future__ import annotations

import contextlib
import datetime
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence

import optuna
from optuna.trial import TrialState

from ntknas.scorer import NTKScorer
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


@contextlib.contextmanager
def _heartbeats(study: optuna.Study, trial_ids: list[int]) -> Iterator[None]:
    """Record heartbeats for running trials while a batch is scored (RDB storages)."""
    storage = study._storage
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            for trial_id in trial_ids:
                with contextlib.suppress(Exception):
                    storage.record_heartbeat(trial_id)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _fail_stale(study: optuna.Study) -> None:
    storage = study._storage
    if getattr(storage, "get_heartbeat_interval", lambda: None)():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
            _fail_unbeaten(study)


def _trials_without_heartbeat(storage: object, trial_ids: list[int]) -> set[int]:
    """Which of ``trial_ids`` have no heartbeat row (RDB storages; empty set otherwise)."""
    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, optuna.storages.RDBStorage) or not trial_ids:
        return set()
    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(backend.scoped_session) as session:
            beaten = {
                row[0]
                for row in session.query(models.TrialHeartbeatModel.trial_id)
                .filter(models.TrialHeartbeatModel.trial_id.in_(trial_ids))
                .all()
            }
    except Exception:  # noqa: BLE001 - internals moved: fall back to Optuna's own check only
        return set()
    return set(trial_ids) - beaten


def _fail_unbeaten(study: optuna.Study) -> None:
    """Fail (and hand to the retry callback) RUNNING trials that never recorded a heartbeat
    although they started more than the grace period ago: a worker killed between ``ask`` and
    its first heartbeat. Optuna's ``fail_stale_trials`` skips such trials, so they would stay
    RUNNING forever and the study would never reach its target."""
    storage = study._storage
    interval = storage.get_heartbeat_interval()
    backend = getattr(storage, "_backend", storage)
    grace = getattr(backend, "grace_period", None) or 2 * interval
    now = datetime.datetime.now()
    old = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.datetime_start is not None and (now - t.datetime_start).total_seconds() > grace
    ]
    dead = _trials_without_heartbeat(storage, [t._trial_id for t in old])
    callback = storage.get_heartbeat_stale_trial_callback()
    for t in old:
        if t._trial_id not in dead:
            continue
        try:
            failed = storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        if failed and callback is not None:
            callback(study, storage.get_trial(t._trial_id))


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
    ``ntknas:fail_reason``; the study goes on.

    Returns:
        The number of trials this call finished.

    Example:
        >>> import search_spaces
        >>> study = optuna.create_study(direction="minimize")
        >>> space = search_spaces.create_search_space("nb201")
        >>> screen(study, space, NTKScorer(batch_size=8), n_trials=3, batch=2)
        3
    """
    cache = cache if cache is not None else ScoreCache()
    cache.warm(study)
    done = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_trials, initial=min(n_trials, accounted_trials(study)), unit="arch")
    try:
        while True:
            _fail_stale(study)
            missing = n_trials - accounted_trials(study)
            waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
            k = min(batch, max(missing, 0) + waiting)
            if k <= 0:
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                trials = [study.ask() for _ in range(k)]
            with _heartbeats(study, [t._trial_id for t in trials]):
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


def wait_for(study: optuna.Study, n_trials: int, timeout: float = 600.0) -> bool:
    """Block until no trial of the study runs or waits and ``n_trials`` are accounted for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [t.state for t in study.get_trials(deepcopy=False)]
        if accounted_trials(study) >= n_trials and not any(
            s in (TrialState.RUNNING, TrialState.WAITING) for s in states
        ):
            return True
        time.sleep(0.5)
    return False
