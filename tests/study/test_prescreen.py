"""PrescreenSampler and prescreened on real Optuna studies (in-memory, SQLite, Journal)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import optuna
import pytest

import search_spaces
from ntknas.optuna import PrescreenSampler, SharedScores, from_builder, prescreened
from ntknas.scorer import NTKScorer
from ntknas.study import create_storage
from tests.study import builders

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _storage(kind: str, tmp_path):
    if kind == "memory":
        return None
    if kind == "sqlite":
        return create_storage(f"sqlite:///{tmp_path / 'p.db'}")
    return create_storage(f"journal:{tmp_path / 'p.journal'}")


@pytest.fixture
def nb201():
    return search_spaces.create_search_space("nb201", cells=1)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["memory", "sqlite", "journal"])
def test_each_trial_trains_the_best_scored_candidate_of_its_draw(kind, tmp_path, nb201):
    scorer = NTKScorer(batch_size=4)
    sampler = PrescreenSampler(nb201, scorer, candidates=4, score="log_cond", seed=0)
    study = optuna.create_study(storage=_storage(kind, tmp_path), sampler=sampler, study_name="s")
    trained = []

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)  # the user's own parameter
        trained.append(nb201.suggest(trial).arch)
        return lr

    study.optimize(objective, n_trials=5)
    shared = sampler.shared_scores(study)
    for trial, arch in zip(study.trials, trained):
        candidates = json.loads(trial.user_attrs["ntknas:prescreen_candidates"])
        assert 1 <= len(candidates) <= 4
        assert trial.user_attrs["ntknas:prescreen_arch"] == arch
        best = max(candidates, key=candidates.get)
        assert trial.user_attrs["ntknas:prescreen_hash"] == best
        assert trial.user_attrs["ntknas:prescreen_score"] == max(candidates.values())
        # the candidates' values are -log κ (log_cond is minimized): recompute one directly
        log_cond = shared.known()[best]["metrics"]["log_cond"]
        assert candidates[best] == pytest.approx(-log_cond)
        assert "lr" in trial.params
    assert len(set(trained)) == len(trained)  # never the same architecture twice
    # every architecture was scored once, in the companion study
    scores = optuna.load_study(study_name="s.ntknas-scores", storage=study._storage)
    hashes = [t.user_attrs["hash"] for t in scores.trials if t.state.name == "COMPLETE"]
    assert len(hashes) == len(set(hashes)) == len(shared.known())


def test_tpe_proposals_and_a_builder_space():
    space = from_builder(builders.build, name="cnn-builder", input_shape=(3, 8, 8))
    sampler = PrescreenSampler(
        space,
        NTKScorer(batch_size=4),
        candidates=3,
        score="log_cond",
        base_sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=2),
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: float(len(builders.build(t))), n_trials=6)
    for t in study.trials:
        assert t.state.name == "COMPLETE"
        assert json.loads(t.user_attrs["ntknas:prescreen_arch"]) == {
            k: v for k, v in t.params.items()
        }


def test_enqueued_trials_keep_their_architecture(nb201):
    sampler = PrescreenSampler(nb201, NTKScorer(batch_size=4), candidates=3, score="params")
    study = optuna.create_study(sampler=sampler)
    chosen = nb201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|")
    study.enqueue_trial(nb201.trial_params(chosen))
    study.optimize(lambda t: float(len(nb201.suggest(t).arch)), n_trials=2)
    assert nb201.suggest(optuna.trial.FixedTrial(study.trials[0].params)) == chosen
    assert "ntknas:prescreen_arch" not in study.trials[0].user_attrs
    assert "ntknas:prescreen_arch" in study.trials[1].user_attrs


@pytest.mark.slow
def test_pruning_happens_at_the_right_quantile(nb201):
    trained = []

    def train(trial: optuna.Trial) -> float:
        trained.append(trial.number)
        return 0.0

    scorer = NTKScorer(batch_size=4)
    wrapped = prescreened(train, nb201, scorer, keep=0.5, warmup=4, score="log_cond")
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=3), pruner=optuna.pruners.MedianPruner()
    )
    study.optimize(wrapped, n_trials=12)
    known = SharedScores(study, nb201, scorer, "log_cond").known()

    def badness(h: str) -> float:  # log κ, minimized; a degenerate kernel ranks worst
        r = known[h]
        return float("inf") if r["degenerate"] else r["metrics"]["log_cond"]

    scored_so_far: list[str] = []
    for t in study.trials:
        h = t.user_attrs["ntknas:prescreen_hash"]
        if h not in scored_so_far:
            scored_so_far.append(h)
        better = sum(badness(o) < badness(h) for o in scored_so_far) / len(scored_so_far)
        assert t.user_attrs["ntknas:prescreen_rank_fraction"] == pytest.approx(better)
        should_prune = len(scored_so_far) >= 4 and better > 0.5
        assert (t.state == optuna.trial.TrialState.PRUNED) == should_prune, t.number
        assert (t.number in trained) == (not should_prune)
    assert any(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials[4:])


def test_bad_settings_are_refused(nb201):
    with pytest.raises(ValueError, match="needs backward_group_all_decorrelation"):
        PrescreenSampler(nb201, NTKScorer(batch_size=4, proxies=False))  # the default needs them
    with pytest.raises(ValueError, match="candidates must be a positive integer"):
        PrescreenSampler(nb201, NTKScorer(batch_size=4, proxies=True), candidates=0)
    with pytest.raises(ValueError, match=r"keep must be in \(0, 1\]"):
        prescreened(lambda t: 0.0, nb201, NTKScorer(batch_size=4), keep=0.0, score="params")


def test_a_failing_builder_is_recorded_and_the_study_goes_on():
    space = from_builder(builders.flaky, name="flaky", input_shape=(3, 4, 4))
    sampler = PrescreenSampler(
        space, NTKScorer(batch_size=4), candidates=3, score="log_cond", seed=1
    )
    study = optuna.create_study(sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        return float(len(list(space.build(space.suggest(trial)).parameters())))

    study.optimize(objective, n_trials=3, catch=(ValueError,))
    errors = [e for t in study.trials for e in t.user_attrs.get("ntknas:prescreen_errors", [])]
    assert any("raised RuntimeError: width 2 is not supported" in e for e in errors)
    assert any("returned str, not a torch.nn.Module" in e for e in errors)
    # the one buildable architecture was scored and handed to the first trial
    assert study.trials[0].state.name == "COMPLETE"
    assert json.loads(study.trials[0].user_attrs["ntknas:prescreen_arch"]) == {"width": 6}
    # later trials find no unseen buildable candidate: the base sampler decides, the builder
    # fails in the objective, and the study goes on
    assert len(study.trials) == 3


WORKER = textwrap.dedent(
    """
    import json, sys, optuna
    from ntknas.optuna import PrescreenSampler, from_builder
    from ntknas.scorer import NTKScorer
    from ntknas.study import create_storage
    from tests.study import builders
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = from_builder(builders.tiny, name="tiny", input_shape=(3, 4, 4))
    storage = create_storage(sys.argv[1], workers=2)
    sampler = PrescreenSampler(space, NTKScorer(batch_size=4), candidates=4, score="log_cond",
                               seed=int(sys.argv[2]))
    study = optuna.load_study(study_name="shared", storage=storage, sampler=sampler)
    study.optimize(lambda t: float(len(builders.tiny(t))), n_trials=3)
    print(json.dumps(sampler.shared_scores(study).scored_here))
    """
)


@pytest.mark.slow
def test_two_workers_never_score_the_same_architecture_twice(tmp_path):
    url = f"journal:{tmp_path / 'shared.journal'}"
    optuna.create_study(study_name="shared", storage=create_storage(url, workers=2))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (0, 1)
    ]
    scored = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        scored.append(json.loads(out.strip().splitlines()[-1]))
    both = scored[0] + scored[1]
    assert len(both) == len(set(both)), "an architecture was scored by both workers"
    scores = optuna.load_study(study_name="shared.ntknas-scores", storage=create_storage(url))
    complete = [t.user_attrs["hash"] for t in scores.trials if t.state.name == "COMPLETE"]
    assert sorted(complete) == sorted(both)
    study = optuna.load_study(study_name="shared", storage=create_storage(url))
    archs = [
        t.user_attrs["ntknas:prescreen_hash"]
        for t in study.trials
        if "ntknas:prescreen_hash" in t.user_attrs
    ]
    # a trial whose candidates were all being scored by the other worker falls back to the
    # base sampler (no prescreen attributes); the others got a scored architecture
    assert len(archs) >= 3 and set(archs) <= set(complete)


@pytest.mark.slow
def test_studies_naming_one_score_store_share_it(tmp_path, nb201):
    storage = create_storage(f"sqlite:///{tmp_path / 'shared.db'}")
    runs = []
    for name in ("first", "second"):
        sampler = PrescreenSampler(
            nb201,
            NTKScorer(batch_size=4),
            candidates=3,
            score="log_cond",
            seed=0,
            scores_name="nb201-scores",
        )
        study = optuna.create_study(study_name=name, storage=storage, sampler=sampler)
        study.optimize(lambda t: float(len(nb201.suggest(t).arch)), n_trials=2)
        runs.append(sampler.shared_scores(study))
    assert runs[0].study.study_name == runs[1].study.study_name == "nb201-scores"
    assert runs[0].scored_here and runs[1].scored_here == []  # the same draws, scored once
