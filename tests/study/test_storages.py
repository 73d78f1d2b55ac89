"""Storages for real: SQLite, Journal file shared by processes, PostgreSQL with 4+ workers and a
worker killed with SIGKILL mid-study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from ntknas.config import load_config
from ntknas.study import StorageError, accounted_trials, create_storage
from ntknas.study._run import open_study, run_search

WORKER_CONFIG = {
    "study": {"n_trials": 60, "sampler": "random", "batch": 2, "heartbeat_interval": 1},
    "space": {"name": "nb201", "options": {"cells": 1}},
    "scorer": {"batch_size": 8},
}


def _config_file(tmp_path: Path, **study) -> Path:
    cfg = json.loads(json.dumps(WORKER_CONFIG))
    cfg["study"].update(study)
    path = tmp_path / "worker.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _worker(config: Path, storage: str, name: str, log: Path, workers: int = 4) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ntknas.cli",
            "worker",
            "--config",
            str(config),
            "--storage",
            storage,
            "--study-name",
            name,
            "--workers",
            str(workers),
            "--log",
            str(log),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check_accounting(study: optuna.Study, n_trials: int, logs: list[Path]) -> None:
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)), "duplicated trial numbers"
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert accounted_trials(study) >= n_trials
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
    for t in finished:
        if t.state == TrialState.COMPLETE:
            assert t.user_attrs["ntknas:arch"] and t.values
        elif "retry_history" not in t.system_attrs and not any(
            t.number in u.system_attrs.get("retry_history", []) for u in trials
        ):
            assert t.user_attrs.get("ntknas:fail_reason"), t.number
    # every trial a worker reports finishing is in the storage, once, and vice versa
    reported = [
        json.loads(line) for log in logs if log.exists() for line in log.read_text().splitlines()
    ]
    reported_numbers = [r["number"] for r in reported]
    assert len(reported_numbers) == len(set(reported_numbers)), "a trial was finished twice"
    by_number = {t.number: t for t in trials}
    for r in reported:
        assert by_number[r["number"]].state.name == r["state"]
    assert {t.number for t in finished} >= set(reported_numbers)


@pytest.mark.slow
def test_sqlite_single_process_and_report(tmp_path, space):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    config = load_config(
        None, ["study.n_trials=6", "space.options={cells: 1}", "scorer.batch_size=8"]
    )
    summary = run_search(
        config,
        storage=url,
        study_name="s",
        output_dir=tmp_path,
        progress=False,
        log=lambda *a: None,
    )
    assert summary["trials"] == 6
    ranking = (tmp_path / "s" / "ranking.csv").read_text()
    from ntknas.cli import main

    assert (
        main(["report", "--storage", url, "--study-name", "s", "--output-dir", str(tmp_path / "r")])
        == 0
    )
    assert (tmp_path / "r" / "s" / "ranking.csv").read_text() == ranking
    # resuming the same study adds nothing once the target is reached
    again = run_search(
        config,
        storage=url,
        study_name="s",
        output_dir=tmp_path,
        progress=False,
        log=lambda *a: None,
    )
    assert again["trials"] == 6


def test_sqlite_refused_for_several_workers(tmp_path):
    with pytest.raises(StorageError, match="SQLite storage .* one process only"):
        create_storage(f"sqlite:///{tmp_path / 'x.db'}", workers=4)


def test_unreachable_storage_is_a_clear_error(tmp_path):
    with pytest.raises(StorageError, match="cannot open storage postgresql"):
        create_storage(f"postgresql+psycopg2://nobody@/nodb?host={tmp_path}")
    with pytest.raises(StorageError, match="does not exist"):
        create_storage(f"journal:{tmp_path / 'missing' / 'j.log'}")


@pytest.mark.slow
def test_journal_file_shared_by_processes(tmp_path):
    n_trials = 24
    storage = f"journal:{tmp_path / 'study.journal'}"
    config = _config_file(tmp_path, n_trials=n_trials)
    open_study(load_config(config), storage, "journal-study", workers=3)
    logs = [tmp_path / f"w{i}.log" for i in range(3)]
    procs = [_worker(config, storage, "journal-study", log, workers=3) for log in logs]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="journal-study", storage=create_storage(storage))
    _check_accounting(study, n_trials, logs)
    assert sum(1 for log in logs if log.exists() and log.read_text()) >= 2  # work was shared


@pytest.mark.postgres
def test_postgres_four_workers_sixty_trials(tmp_path, postgres_url):
    n_trials = 60
    name = f"pg-{os.getpid()}-{time.time_ns()}"
    config = _config_file(tmp_path, n_trials=n_trials)
    open_study(load_config(config), postgres_url, name, workers=4)
    logs = [tmp_path / f"w{i}.log" for i in range(4)]
    procs = [_worker(config, postgres_url, name, log) for log in logs]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    study = optuna.load_study(study_name=name, storage=create_storage(postgres_url, workers=4))
    _check_accounting(study, n_trials, logs)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) + len([t for t in study.trials if t.state == TrialState.FAIL]) >= n_trials
    assert sum(1 for log in logs if log.exists() and log.read_text()) == 4  # all four worked


@pytest.mark.postgres
def test_postgres_worker_killed_and_restarted(tmp_path, postgres_url):
    n_trials = 30
    name = f"pg-kill-{os.getpid()}-{time.time_ns()}"
    config = _config_file(tmp_path, n_trials=n_trials, batch=1)
    storage = create_storage(postgres_url, workers=2)
    open_study(load_config(config), postgres_url, name, workers=2)
    log1 = tmp_path / "first.log"
    first = _worker(config, postgres_url, name, log1, workers=2)
    study = optuna.load_study(study_name=name, storage=storage)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        if len(done) >= 5 and any(
            t.state == TrialState.RUNNING for t in study.get_trials(deepcopy=False)
        ):
            break
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = {
        t.number: t.values
        for t in study.get_trials(deepcopy=False)
        if t.state == TrialState.COMPLETE
    }
    assert len(before) >= 5
    time.sleep(3.5)  # let the dead worker's heartbeat go stale (interval 1 s, grace 3 s)
    log2 = tmp_path / "second.log"
    second = _worker(config, postgres_url, name, log2, workers=2)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    study = optuna.load_study(study_name=name, storage=storage)
    after = {
        t.number: t.values
        for t in study.get_trials(deepcopy=False)
        if t.state == TrialState.COMPLETE
    }
    for number, values in before.items():  # nothing completed was lost or changed
        assert after[number] == values
    _check_accounting(study, n_trials, [log1, log2])
    stale = [
        t
        for t in study.trials
        if t.state == TrialState.FAIL
        and any(t.number in u.system_attrs.get("retry_history", []) for u in study.trials)
    ]
    assert len(stale) <= 1  # the trial that was running when the worker died, retried


@pytest.mark.slow
def test_trial_of_a_worker_killed_before_its_first_heartbeat_is_failed_and_retried(tmp_path):
    """Optuna's fail_stale_trials skips RUNNING trials that never recorded a heartbeat; a
    worker killed between ask() and its first heartbeat would leave one RUNNING forever."""
    from ntknas.study._heartbeat import ask, fail_stale

    storage = create_storage(f"sqlite:///{tmp_path / 'hb.db'}", heartbeat_interval=1)
    study = optuna.create_study(storage=storage, study_name="hb")
    orphan = ask(study)  # no heartbeat is ever recorded for it
    beating = ask(study)
    storage.record_heartbeat(beating._trial_id)
    time.sleep(3.5)  # past the grace period (3 x interval)
    storage.record_heartbeat(beating._trial_id)
    fail_stale(study)
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states[orphan.number] == TrialState.FAIL
    assert states[beating.number] == TrialState.RUNNING
    retried = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.WAITING]
    assert len(retried) == 1 and orphan.number in retried[0].system_attrs["retry_history"]


def test_journal_trial_of_a_dead_owner_is_failed_and_retried(tmp_path):
    """A Journal file has no heartbeats: the trial's owner process (host, pid, start time)
    tells a dead worker's trial from a live one."""
    from ntknas.study._heartbeat import OWNER_ATTR, ask, fail_stale, this_process

    storage = create_storage(f"journal:{tmp_path / 'owner.journal'}")
    study = optuna.create_study(storage=storage, study_name="owners")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    orphan = ask(study)
    orphan.suggest_int("x", 0, 9)
    orphan.set_user_attr(OWNER_ATTR, {**this_process(), "pid": int(dead.stdout), "start": "0"})
    reused = ask(study)  # a live pid whose start time differs: the pid was reused, owner dead
    reused.set_user_attr(OWNER_ATTR, {**this_process(), "start": "1"})
    alive = ask(study)  # this process
    elsewhere = ask(study)
    elsewhere.set_user_attr(OWNER_ATTR, {**this_process(), "host": "another-host"})
    fail_stale(study)
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states[orphan.number] == states[reused.number] == TrialState.FAIL
    assert states[alive.number] == states[elsewhere.number] == TrialState.RUNNING
    retries = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.WAITING]
    assert sorted(t.system_attrs["retry_history"][-1] for t in retries) == [
        orphan.number,
        reused.number,
    ]
    assert [t.params for t in retries if orphan.number in t.system_attrs["retry_history"]] == [
        orphan.params
    ]
    fail_stale(study)  # nothing more to do: no duplicate retries
    assert len([t for t in study.get_trials(deepcopy=False) if t.state == TrialState.WAITING]) == 2


@pytest.mark.slow
def test_journal_worker_killed_and_restarted(tmp_path):
    """The issue's recipe: two workers on a Journal file, one killed with SIGKILL, the other
    finishes, a restarted worker re-runs the dead worker's trials; the study ends with the
    requested number of COMPLETE trials and nothing RUNNING."""
    n_trials = 16
    storage_url = f"journal:{tmp_path / 'kill.journal'}"
    config = _config_file(tmp_path, n_trials=n_trials, batch=1)
    open_study(load_config(config), storage_url, "kill", workers=2)
    storage = create_storage(storage_url, workers=2)
    logs = [tmp_path / f"w{i}.log" for i in range(3)]
    first = _worker(config, storage_url, "kill", logs[0], workers=2)
    second = _worker(config, storage_url, "kill", logs[1], workers=2)
    study = optuna.load_study(study_name="kill", storage=storage)
    deadline = time.time() + 120
    victim_running = False
    while time.time() < deadline and not victim_running:
        trials = study.get_trials(deepcopy=False)
        done = sum(t.state == TrialState.COMPLETE for t in trials)
        victim_running = done >= 3 and any(
            t.state == TrialState.RUNNING
            and t.user_attrs.get("ntknas:owner", {}).get("pid") == first.pid
            for t in trials
        )
        time.sleep(0.02)
    assert victim_running, "the first worker never held a running trial"
    first.send_signal(signal.SIGKILL)
    first.wait()
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    third = _worker(config, storage_url, "kill", logs[2], workers=2)
    out, err = third.communicate(timeout=300)
    assert third.returncode == 0, err
    study = optuna.load_study(study_name="kill", storage=storage)
    _check_accounting(study, n_trials, logs)
    trials = study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    failed_dead = [
        t
        for t in trials
        if t.state == TrialState.FAIL
        and t.user_attrs.get("ntknas:owner", {}).get("pid") == first.pid
    ]
    assert failed_dead and all(
        any(t.number in u.system_attrs.get("retry_history", []) for u in trials)
        for t in failed_dead
    )
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) >= n_trials - sum(
        1 for t in trials if t.state == TrialState.FAIL and "ntknas:fail_reason" in t.user_attrs
    )
