"""Heartbeats for trials run outside ``Study.optimize`` (ask-and-tell screening, validation).

Optuna records heartbeats and fails stale trials only inside ``Study.optimize``. ntknas asks and
tells itself, so it beats for its running trials here, and fails the trials of workers that died
(with or without a first heartbeat) so that they are retried.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import warnings
from collections.abc import Iterator

import optuna
from optuna.trial import TrialState


def ask(study: optuna.Study) -> optuna.Trial:
    """``study.ask()`` without Optuna's warning that heartbeats belong to ``Study.optimize``:
    the caller runs the trial under :func:`heartbeats`."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        return study.ask()


@contextlib.contextmanager
def heartbeats(study: optuna.Study, trial_ids: list[int]) -> Iterator[None]:
    """Record heartbeats for running trials while they run (RDB storages; else nothing)."""
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


def fail_stale(study: optuna.Study) -> None:
    """Fail stale RUNNING trials (Optuna's check, then the never-beaten ones), handing
    them to the retry callback; nothing without heartbeats."""
    storage = study._storage
    if getattr(storage, "get_heartbeat_interval", lambda: None)():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
            _fail_unbeaten(study)


def trials_without_heartbeat(storage: object, trial_ids: list[int]) -> set[int]:
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
    dead = trials_without_heartbeat(storage, [t._trial_id for t in old])
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
