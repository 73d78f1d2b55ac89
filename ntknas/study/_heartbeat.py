"""Heartbeats for trials run outside ``Study.optimize`` (ask-and-tell screening, validation).

Optuna records heartbeats and fails stale trials only inside ``Study.optimize``. ntknas asks and
tells itself, so it beats for its running trials here, and fails the trials of workers that died
(with or without a first heartbeat) so that they are retried.

Storages without heartbeats (Optuna's Journal file, shared by processes on one host) get the
same recovery from the trial's owner: :func:`ask` records the host, process id and process start
time of the worker that runs it (``ntknas:owner``), and :func:`fail_stale` fails and retries the
RUNNING trials whose owner on this host no longer exists.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

OWNER_ATTR = "ntknas:owner"

#: How many times a dead worker's trial is retried (as the heartbeat storages' callback does).
MAX_RETRY = 3


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, Linux), None if it does not
    exist or cannot be read; with the pid it names a process even after its pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> dict[str, Any]:
    """Host, pid and start time of the running process (the owner of the trials it asks)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _process_start(pid)}


def owner_alive(owner: dict[str, Any]) -> bool | None:
    """Whether the process that owns a trial still runs: True/False on this host, None when the
    owner is elsewhere (or unknown) and cannot be checked from here."""
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return None
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return None
    start = _process_start(pid)
    if start is not None:
        return owner.get("start") in (None, start)
    if Path("/proc/self/stat").exists():
        return False  # /proc is readable and the process is not there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ask(study: optuna.Study) -> optuna.Trial:
    """``study.ask()`` without Optuna's warning that heartbeats belong to ``Study.optimize`` (the
    caller runs the trial under :func:`heartbeats`); the trial records its owner process."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        trial = study.ask()
    trial.set_user_attr(OWNER_ATTR, this_process())
    return trial


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
    """Fail the RUNNING trials of dead workers and retry them: with heartbeats, Optuna's check
    and then the never-beaten trials; without (a Journal file), the trials whose owner process
    on this host has exited."""
    storage = study._storage
    if getattr(storage, "get_heartbeat_interval", lambda: None)():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
            _fail_unbeaten(study)
    else:
        _fail_orphaned(study)


def _fail_orphaned(study: optuna.Study) -> None:
    """Fail and retry RUNNING trials whose owner process (``ntknas:owner``) has exited."""
    storage = study._storage
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if owner_alive(t.user_attrs.get(OWNER_ATTR)) is not False:
            continue
        try:
            failed = storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        if failed:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry(study, storage.get_trial(t._trial_id))


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
