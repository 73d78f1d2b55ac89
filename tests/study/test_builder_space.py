"""search_spaces.from_builder: a define-by-run builder as a search space."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest
import torch

import search_spaces
from ntknas.scorer import NTKScorer
from ntknas.study import make_objective, screen
from search_spaces import BuilderError, from_builder
from tests.study import builders


@pytest.fixture
def space():
    return from_builder(builders.build, name="cnn-builder")


def test_sample_parse_build_round_trip(space):
    seen = set()
    for seed in range(12):
        spec = space.sample(seed)
        params = json.loads(spec.arch)
        assert spec.arch == json.dumps(params, sort_keys=True, separators=(",", ":"))
        assert ("dropout" in params) == (params["pool"] == "max")  # conditional parameter
        assert space.parse(json.dumps(params, indent=1)) == spec
        model = space.build(spec, num_classes=7)
        assert model(torch.zeros(2, 3, 8, 8)).shape == (2, 7)
        # suggest through a FixedTrial reproduces the spec
        assert space.suggest(optuna.trial.FixedTrial(space.trial_params(spec))) == spec
        seen.add(spec.arch)
    assert len(seen) > 4 and space.sample(3) == space.sample(3)


def test_hash_is_stable_across_processes(space):
    spec = space.parse('{"width": 8, "depth": 2, "pool": "avg"}')
    code = (
        "import search_spaces;"
        "s = search_spaces.create_search_space('tests.study.builders:build');"
        'print(s.parse(\'{"pool": "avg", "depth": 2, "width": 8}\').arch)'
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == spec.arch
    named = search_spaces.create_search_space("tests.study.builders:build")
    assert named.name == "tests.study.builders:build"
    assert search_spaces.ArchSpec("cnn-builder", spec.arch).hash == spec.hash


def test_suggest_on_a_real_trial_keeps_only_the_builder_parameters(space):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)  # the user's own parameter
    spec = space.suggest(trial)
    assert "lr" not in json.loads(spec.arch) and lr > 0
    assert set(json.loads(spec.arch)) <= {"width", "depth", "pool", "dropout"}


def test_make_objective_and_screen_accept_a_builder_space(space):
    study = optuna.create_study(direction="minimize")
    study.optimize(make_objective(space, NTKScorer(batch_size=4), "log_cond"), n_trials=3)
    assert all(t.user_attrs["ntknas:arch"].startswith("{") for t in study.trials)
    other = optuna.create_study(direction="minimize")
    assert screen(other, space, NTKScorer(batch_size=4), n_trials=3, batch=2) == 3


def test_bad_builders_name_the_cause():
    flaky = from_builder(builders.flaky, name="flaky", input_shape=(3, 4, 4))
    with pytest.raises(
        BuilderError, match="builder 'flaky' of space 'flaky' raised RuntimeError: width 2"
    ):
        flaky.build('{"width": 2}')
    with pytest.raises(BuilderError, match="returned str, not a torch.nn.Module"):
        flaky.build('{"width": 4}')
    unstable = from_builder(builders.unstable, name="unstable", input_shape=(3, 4, 4))
    spec = unstable.sample(0)
    with pytest.raises(BuilderError, match="asked for parameter 'p"):
        unstable.build(spec)
    good = from_builder(builders.tiny, name="tiny", input_shape=(3, 4, 4))
    with pytest.raises(BuilderError, match="did not ask for parameter 'extra'"):
        good.build('{"width": 2, "deep": false, "extra": 1}')
    with pytest.raises(BuilderError, match="not JSON parameters"):
        good.parse("width=2")


def test_a_failing_builder_fails_one_trial_and_the_study_goes_on():
    flaky = from_builder(builders.flaky, name="flaky", input_shape=(3, 4, 4))
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0))
    screen(study, flaky, NTKScorer(batch_size=4), n_trials=9, batch=3)
    reasons = [t.user_attrs.get("ntknas:fail_reason", "") for t in study.trials]
    assert any("raised RuntimeError: width 2 is not supported" in r for r in reasons)
    assert any("not a torch.nn.Module" in r for r in reasons)
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_module_path_errors():
    with pytest.raises(ValueError, match="cannot be imported"):
        search_spaces.create_search_space("tests.study.builders:nope")
    with pytest.raises(ValueError, match="unknown option 'width'"):
        search_spaces.create_search_space("tests.study.builders:build", width=3)
