"""``study.workers`` > 1: extra processes on this machine share the study (search and validate)."""

from __future__ import annotations

import collections

import optuna
import pytest

from ntknas.config import load_config
from ntknas.study import StorageError
from ntknas.study._heartbeat import OWNER_ATTR
from ntknas.study._run import run_search
from ntknas.study._workers import shared_storage, threads_per_worker
from ntknas.validate import run_validate


def test_an_in_memory_study_is_shared_through_a_temporary_journal_file():
    with shared_storage(None, 2) as url:
        assert url.startswith("journal:")
        folder = url.split(":", 1)[1].rsplit("/", 1)[0]
    import os

    assert not os.path.exists(folder)  # removed after the run
    with shared_storage("journal:/x/y.journal", 2) as url:
        assert url == "journal:/x/y.journal"
    assert threads_per_worker(1) >= threads_per_worker(64) == 1


@pytest.mark.slow
def test_search_with_two_worker_processes(tmp_path):
    config = load_config(
        None,
        ["study.workers=2", "study.n_trials=10", "study.batch=1", "space.options={cells: 1}"]
        + ["scorer.batch_size=8", "study.name=w"],
    )
    summary = run_search(config, output_dir=tmp_path, progress=False, log=lambda *a: None)
    assert summary["trials"] == 10 and summary["complete"] == 10
    assert summary["workers"] == 2
    assert (tmp_path / "w" / "ranking.csv").is_file()


def test_search_with_workers_refuses_a_one_process_storage(tmp_path):
    config = load_config(None, ["study.workers=2", f"study.storage=sqlite:///{tmp_path}/s.db"])
    with pytest.raises(StorageError, match="one process"):
        run_search(config, output_dir=tmp_path, progress=False, log=lambda *a: None)


@pytest.mark.slow
def test_validate_with_two_worker_processes_trains_each_network_once(tmp_path):
    config = load_config(
        None,
        ["study.workers=2", "space.options={cells: 1}", "scorer.batch_size=8"]
        + ["train.epochs=1", "train.subset=400", "train.batch_size=50"],
    )
    storage = f"journal:{tmp_path / 'v.journal'}"
    summary = run_validate(
        config,
        n_archs=6,
        storage=storage,
        output_dir=tmp_path,
        name="v",
        log=lambda *a: None,
        kernel_evolution=False,
    )
    assert summary["n"] == 6
    study = optuna.load_study(
        study_name="v-validate",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "v.journal"))
        ),
    )
    trials = study.get_trials()
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    hashes = collections.Counter(t.user_attrs["ntknas:hash"] for t in trials)
    assert len(hashes) == 6 and set(hashes.values()) == {1}  # none twice
    assert all(t.user_attrs.get(OWNER_ATTR) for t in trials)


def test_validate_with_workers_checks_the_training_setup_before_any_worker_starts(tmp_path, capfd):
    from ntknas.cli import main

    argv = ["validate", "--output-dir", str(tmp_path), "--n", "2", "study.workers=2"]
    argv += ["space.name=vit", "space.options={depth: [1, 1], dim: [32, 32]}"]
    assert main([*argv, "scorer.batch_size=4", "train.resolution=16", "train.epochs=1"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.resolution" in err[0]  # one line: no worker process ran


@pytest.mark.slow
def test_ntknas_worker_runs_study_workers_processes(tmp_path, capsys):
    from ntknas.cli import main

    storage = f"journal:{tmp_path / 'w.journal'}"
    common = ["space.options={cells: 1}", "scorer.batch_size=4", "study.batch=1"]
    assert (
        main(["search", "--storage", storage, "--study-name", "s", "study.n_trials=0", *common])
        == 0
    )
    argv = ["worker", "--storage", storage, "--study-name", "s", "--n-trials", "6", "--join-only"]
    assert main([*argv, "study.workers=2", *common]) == 0
    study = optuna.load_study(
        study_name="s",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "w.journal"))
        ),
    )
    states = collections.Counter(t.state for t in study.get_trials())
    assert states == {optuna.trial.TrialState.COMPLETE: 6}
