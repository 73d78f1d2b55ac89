from __future__ import annotations

import pytest
import torch

from ntknas import objectives
from ntknas.combined_scores import get_score, list_scores
from ntknas.objectives import (
    KERNEL_PASS,
    REQUIREMENTS,
    get_objective,
    metric_direction,
    objective_names,
    probe_signal_names,
    requirements,
    signal_names,
)
from ntknas.proxies import probe_signals
from ntknas.scorer import NTKScorer
from ntknas.spectral import list_metrics
from tests.conftest import SmallCNN


@pytest.mark.parametrize("name", objective_names())
def test_every_objective_declares_a_direction_requirements_and_a_kind(name):
    o = get_objective(name)
    assert o.name == name
    assert o.direction in ("maximize", "minimize")
    assert o.requires <= set(REQUIREMENTS)
    assert o.kind in objectives.KINDS
    assert metric_direction(name) == o.direction


def test_each_name_has_one_meaning():
    names = objective_names()
    assert len(names) == len(set(names))
    # costs are minimized wherever they are an objective; a rule that rewards size says so in
    # its own component direction
    assert metric_direction("params") == metric_direction("flops") == "minimize"
    assert get_score("ntk-agg-v6").components["flops"] == "maximize"


@pytest.mark.parametrize("name", list_scores())
def test_a_score_requires_what_its_components_require(name):
    expected = frozenset().union(*(get_objective(c).requires for c in get_score(name).components))
    assert get_objective(name).requires == expected
    assert get_objective(name).direction == "maximize"


def test_the_probe_pass_produces_exactly_the_probe_signals():
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert set(probe_signals(SmallCNN(), x)) == set(probe_signal_names())


def test_the_default_score_needs_no_kernel_and_the_spectrum_does():
    assert not requirements(["ntk-agg-v4"]) & KERNEL_PASS
    assert requirements(["log_cond"]) == {objectives.KERNEL}
    assert set(list_metrics()) == set(objective_names("spectral"))
    assert "krr_loss" in signal_names() and "params" not in signal_names()


@pytest.mark.parametrize("name", signal_names() + ["params", "flops"])
def test_the_scorer_computes_every_signal_it_declares(name):
    import search_spaces

    space = search_spaces.create_search_space("nb201", cells=1)
    scorer = NTKScorer(batch_size=6, heldout=6, needs=[name])
    result = scorer.score(space, space.sample(3))
    value = {"params": result.params, "flops": result.flops}.get(name, result.metrics.get(name))
    assert value is not None and value == value, name
    assert ("ntk" in result.phases) == bool(get_objective(name).requires & KERNEL_PASS)


@pytest.mark.parametrize("bad", ["nope", "ntk-agg-v99"])
def test_unknown_names_are_refused_with_the_known_ones(bad):
    with pytest.raises(ValueError, match=f"unknown objective '{bad}'; known: .*log_cond"):
        get_objective(bad)
    with pytest.raises(ValueError, match="unknown objective kind"):
        objective_names("nope")


def test_a_score_with_an_unknown_component_is_refused_naming_it():
    from ntknas.combined_scores import ScoreRule, register_score, unregister_score

    register_score(ScoreRule("example-bad", {"naswot": "maximize", "nope": "minimize"}))
    try:
        with pytest.raises(ValueError, match="'example-bad' has an unknown component 'nope'"):
            get_objective("example-bad")
    finally:
        unregister_score("example-bad")


def test_the_default_reads_every_channel_and_equals_ntk_agg_v6_where_layers_are_narrow():
    import search_spaces
    from ntknas.combined_scores import DEFAULT_SCORE, aggregate

    assert DEFAULT_SCORE == "ntk-agg-v7"
    assert set(get_score(DEFAULT_SCORE).components) == {
        "feature_group_all_decorrelation",
        "backward_group_all_decorrelation",
        "flops",
    }
    space = search_spaces.create_search_space("nb201", cells=1)  # no layer above 64 channels
    scorer = NTKScorer(batch_size=4, needs=["ntk-agg-v6", "ntk-agg-v7"])
    rows = []
    for arch in space.sample_distinct(6, 0):
        r = scorer.score(space, arch)
        rows.append({**r.metrics, "flops": float(r.flops)})
    assert aggregate(rows, "ntk-agg-v7").tolist() == aggregate(rows, "ntk-agg-v6").tolist()
