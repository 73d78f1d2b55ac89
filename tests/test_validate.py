from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from ntknas.config import load_config
from ntknas.study._heartbeat import trials_without_heartbeat
from ntknas.study._storage import create_storage
from ntknas.validate import run_validate
from tests.bench.test_benches import table  # noqa: F401  (fixture)


@pytest.mark.slow
def test_validate_scores_trains_correlates_and_resumes(tmp_path):
    config = load_config(
        None,
        [
            "space.options={cells: 1}",
            "scorer.batch_size=8",
            "train.epochs=1",
            "train.subset=100",
            "train.batch_size=50",
        ],
    )
    storage = f"sqlite:///{tmp_path / 'v.db'}"
    logs = []
    summary = run_validate(
        config, n_archs=3, storage=storage, output_dir=tmp_path, name="v", log=logs.append
    )
    folder = tmp_path / "v"
    assert summary["n"] == 3
    for f in (
        "correlations.json",
        "correlations.md",
        "architectures.csv",
        "scatter_log_cond.png",
        "scatter_params.png",
    ):
        assert (folder / f).is_file(), f
    row = summary["correlations"]["log_cond"]
    assert {"kendall_tau", "spearman_rho", "kendall_tau_lo", "kendall_tau_hi", "regret"} <= set(row)
    assert "params" in summary["baselines"] and "flops" in summary["baselines"]
    trained = [line for line in logs if isinstance(line, str) and line.startswith("[")]
    assert len(trained) == 3
    # Training runs under heartbeats, so another worker's stale-trial check leaves it alone.
    storage_obj = create_storage(storage)
    study = optuna.load_study(study_name="v-validate", storage=storage_obj)
    ids = [t._trial_id for t in study.get_trials()]
    assert len(ids) == 3 and trials_without_heartbeat(storage_obj, ids) == set()
    logs.clear()
    again = run_validate(
        config, n_archs=3, storage=storage, output_dir=tmp_path, name="v", log=logs.append
    )
    assert not [line for line in logs if isinstance(line, str) and line.startswith("[")]  # resumed
    assert json.loads((folder / "correlations.json").read_text())["n"] == again["n"] == 3


@pytest.mark.slow
def test_validate_stratified_and_ground_truth(tmp_path, table):  # noqa: F811
    config = load_config(
        None,
        [
            "space.options={cells: 1}",
            "scorer.batch_size=4",
            "train.epochs=1",
            "train.subset=60",
            "train.batch_size=30",
        ],
    )
    s = run_validate(
        config, n_archs=2, strategy="stratified", output_dir=tmp_path, name="s", log=lambda *a: None
    )
    assert s["n"] == 2
    g = run_validate(
        config,
        n_archs=2,
        output_dir=tmp_path,
        name="g",
        ground_truth=str(table),
        target="acc",
        log=lambda *a: None,
    )
    assert "short_vs_table" in g and "table_correlations" in g
    # no per-architecture copy of the table's accuracies is written
    assert "table_accuracy" not in (tmp_path / "g" / "architectures.csv").read_text()


@pytest.mark.usefixtures("legacy_scores")
@pytest.mark.slow
def test_validate_reports_scores_and_kernel_evolution(tmp_path):
    """The objectives bring what their scores need into the table (the default ntk-agg-v4: the
    probe signals; ntk-agg-v2: kernel regression too), and each trained network's NTK is
    tracked per epoch."""
    config = load_config(
        None,
        [
            "study.objectives=[ntk-agg-v4, ntk-agg-v2]",
            "space.options={cells: 1}",
            "scorer.batch_size=10",
            "train.epochs=2",
            "train.subset=60",
            "train.batch_size=30",
        ],
    )
    summary = run_validate(
        config, n_archs=4, storage=None, output_dir=tmp_path, name="k", log=lambda *a: None
    )
    for name in (
        "ntk-agg-v4",
        "ntk-only-v4",
        "backward_decorrelation",
        "ntk-agg-v2",
        "ntk-agg-v1",
        "ntk-only-v1",
        "krr_loss",
        "feature_decorrelation",
        "naswot",
    ):
        assert name in summary["correlations"], name
    assert summary["name"] == "k"
    evolution = summary["kernel_evolution"]
    assert evolution["n"] == 4
    change = evolution["median_change_per_epoch"]
    assert len(change) == 3 and change[0] == 0.0 and change[-1] > 0.0
    assert all(-1.0 <= a <= 1.0 for a in evolution["median_alignment_per_epoch"])
    text = (tmp_path / "k" / "correlations.md").read_text()
    assert "NTK during training" in text and "ntk-agg-v4" in text
    header = (tmp_path / "k" / "architectures.csv").read_text().splitlines()[0]
    assert "kernel_change_final" in header and "alignment_epochs" in header


def _validate_process(tmp_path, storage: str, log_name: str) -> subprocess.Popen:
    """``ntknas validate`` in its own process (a worker of the shared validation study)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ntknas.cli",
            "validate",
            "--n",
            "6",
            "--storage",
            storage,
            "--name",
            "shared",
            "--output-dir",
            str(tmp_path),
            "--no-kernel-evolution",
            "space.options={cells: 1}",
            "scorer.batch_size=8",
            "train.epochs=2",
            "train.subset=400",
            "train.batch_size=50",
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=(tmp_path / log_name).open("w"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_validate_shared_by_two_processes_survives_a_killed_one(tmp_path):
    """Two processes run one validation on a Journal file; one is killed with SIGKILL while it
    trains; the other retrains its architecture: every architecture ends trained exactly once."""
    storage = f"journal:{tmp_path / 'validate.journal'}"
    first = _validate_process(tmp_path, storage, "first.log")
    second = _validate_process(tmp_path, storage, "second.log")
    storage_obj = create_storage(storage)
    deadline = time.time() + 240
    victim_training = False
    while time.time() < deadline and not victim_training:
        try:
            study = optuna.load_study(study_name="shared-validate", storage=storage_obj)
        except KeyError:
            time.sleep(0.2)
            continue
        victim_training = any(
            t.state == optuna.trial.TrialState.RUNNING
            and t.user_attrs.get("ntknas:owner", {}).get("pid") == first.pid
            for t in study.get_trials(deepcopy=False)
        )
        time.sleep(0.05)
    assert victim_training, (tmp_path / "first.log").read_text()
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert second.wait(timeout=600) == 0, (tmp_path / "second.log").read_text()
    study = optuna.load_study(study_name="shared-validate", storage=storage_obj)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    hashes = [t.user_attrs["ntknas:hash"] for t in complete]
    assert len(hashes) == len(set(hashes)) == 6  # all trained, none twice
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    killed = [t for t in trials if t.user_attrs.get("ntknas:owner", {}).get("pid") == first.pid]
    assert any(t.state == optuna.trial.TrialState.FAIL for t in killed)
    summary = json.loads((tmp_path / "shared" / "correlations.json").read_text())
    assert summary["n"] == 6


def test_default_training_is_the_measured_protocol_and_its_agreement_is_printed():
    from ntknas.config import uses_default_training, with_protocol
    from ntknas.protocols import DEFAULT_PROTOCOL, get_protocol
    from ntknas.validate import protocol_line

    config = load_config(None, ["space.name=nbmacro"])
    assert uses_default_training(config)
    chosen = with_protocol(config, DEFAULT_PROTOCOL)
    expected = get_protocol(DEFAULT_PROTOCOL)
    assert chosen.train.epochs == expected.train["epochs"]
    assert chosen.train.space_options == expected.space_options["nbmacro"]
    line = protocol_line(chosen)
    assert line.startswith(f"training protocol {DEFAULT_PROTOCOL!r}")
    assert len(expected.agreement) == 2
    for agreement in expected.agreement.values():
        assert f"{agreement.table}: τ {agreement.kendall_tau:.2f}" in line
    custom = load_config(None, ["train.epochs=1"])
    assert not uses_default_training(custom)
    assert "custom settings, agreement with long training not measured" in protocol_line(custom)
    changed = load_config(None, [f"train.protocol={DEFAULT_PROTOCOL}", "train.epochs=1"])
    assert "its measured agreement does not apply" in protocol_line(changed)


def test_a_resolution_the_trained_network_cannot_take_fails_before_training(tmp_path):
    config = load_config(
        None,
        [
            "space.name=vit",
            "space.options={depth: [1, 1], dim: [32, 32]}",
            "scorer.batch_size=4",
            "train.resolution=16",
            "train.epochs=1",
        ],
    )
    storage = f"sqlite:///{tmp_path / 'v.db'}"
    with pytest.raises(ValueError, match="key 'train.resolution': resolution 16 is not a size"):
        run_validate(config, n_archs=2, storage=storage, output_dir=tmp_path, log=lambda *a: None)
    studies = optuna.get_all_study_names(storage=create_storage(storage))
    assert "quickstart-validate" not in studies  # nothing created, enqueued or trained
