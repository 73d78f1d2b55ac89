from __future__ import annotations

import pytest
import torch

import search_spaces
from ntknas.combined_scores import get_score
from ntknas.ntk import empirical_ntk
from ntknas.scorer import NTKScorer
from ntknas.spectral import spectrum


def test_heldout_images_extend_the_kernel_not_the_spectrum():
    """Without BatchNorm the probe block of the (probe + held-out) kernel is the probe kernel:
    the spectral metrics do not depend on the held-out images."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 32 * 32, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 10),
    )
    scorer = NTKScorer(batch_size=10, heldout=10, proxies=True)
    result = scorer.score_model(model)
    x, y = scorer.probe
    held_x, held_y = scorer.heldout_batch
    assert held_x.shape == x.shape and not torch.equal(held_x, x)  # the test split
    assert torch.bincount(held_y).tolist() == [1] * 10  # class-balanced
    alone = spectrum(empirical_ntk(model, x))
    assert result.metrics["log_cond"] == pytest.approx(alone["log_cond"], rel=1e-4)
    for name in ("krr_accuracy", "krr_loss", "naswot", "kernel_alignment"):
        assert name in result.metrics
    assert result.metrics["backward_decorrelation"] == 0.0  # no positions: an MLP's is 0
    assert {"kernel_regression", "naswot", "backward_decorrelation"} <= set(result.phases)
    # the per-layer NTK signal reads the probe block of each weight layer's kernel
    from ntknas import layerwise_ntk
    from ntknas.proxies import layer_gradient_decorrelation

    layers = layerwise_ntk(model, torch.cat([x, held_x]))
    expected = layer_gradient_decorrelation(layers, model, size=10)
    assert result.metrics["layer_lambda_min_cosine"] == pytest.approx(expected, rel=1e-6)
    # ... and the "_all" variants read every image in the kernel (probe + held-out)
    from ntknas.spectral import cosine_lambda_min

    every = layer_gradient_decorrelation(layers, model)
    assert result.metrics["layer_lambda_min_cosine_all"] == pytest.approx(every, rel=1e-6)
    whole = sum(t.double() for t in layers.values())
    assert result.metrics["lambda_min_cosine_all"] == pytest.approx(
        cosine_lambda_min(whole), rel=1e-6, abs=1e-9
    )
    assert every != pytest.approx(expected)  # 20 images are not the 10-image probe block


@pytest.mark.usefixtures("legacy_scores")
def test_all_image_layer_metrics_equal_probe_ones_without_heldout():
    space = search_spaces.create_search_space("nb201", cells=1)
    result = NTKScorer(batch_size=8).score(space, space.sample(1))
    m = result.metrics
    assert m["layer_lambda_min_cosine_all"] == m["layer_lambda_min_cosine"]
    assert m["lambda_min_cosine_all"] == m["lambda_min_cosine"]
    assert get_score("ntk-only-v3").needs() <= set(m) | {"params", "flops"}


@pytest.mark.usefixtures("legacy_scores")
def test_combined_score_as_scorer_metric_and_bad_settings():
    space = search_spaces.create_search_space("nb201", cells=1)
    r = NTKScorer(batch_size=6, heldout=4, proxies=True, metric="ntk-agg-v1").score(
        space, space.sample(0)
    )
    assert r.score is None  # a combined score ranks a population, not one architecture
    with pytest.raises(ValueError, match="'sum' or 'trace'"):
        NTKScorer(kernel="full", heldout=4)
    with pytest.raises(ValueError, match="heldout"):
        NTKScorer(heldout=-1)


def test_full_kernel_metrics_use_the_whole_kernel():
    space = search_spaces.create_search_space("nb201")
    spec = space.sample(1)
    r = NTKScorer(batch_size=3, kernel="full").score(space, spec)
    torch.manual_seed(0)
    model = space.build(spec, num_classes=10)
    x, _ = NTKScorer(batch_size=3).probe
    full = empirical_ntk(model, x, kernel="full")
    assert full.shape == (30, 30)
    assert r.metrics["trace"] == pytest.approx(float(full.double().trace()), rel=1e-5)


@pytest.mark.slow
def test_score_kernels_equals_one_scorer_per_kernel():
    # every bn mode of the contraction itself: tests/ntk/test_engine.py (small models)
    bn, implementation = "frozen", "func"
    space = search_spaces.create_search_space("nb201")
    spec = space.sample(2)
    shared = NTKScorer(batch_size=4, kernel="full", bn=bn, proxies=True).score_kernels(
        space, spec, ["full", "trace", "sum"]
    )
    assert set(shared) == {"full", "trace", "sum"}
    for kernel, result in shared.items():
        alone = NTKScorer(
            batch_size=4, kernel=kernel, bn=bn, proxies=True, implementation=implementation
        ).score(space, spec)
        assert result.params == alone.params and result.flops == alone.flops
        assert result.degenerate == alone.degenerate
        # float32 sums in a different order (contracted from the full kernel vs direct)
        for name in ("trace", "lambda_min", "lambda_max", "effective_rank", "naswot"):
            assert result.metrics[name] == pytest.approx(alone.metrics[name], rel=1e-3), name
    with pytest.raises(ValueError, match="kernel='full'"):
        NTKScorer(batch_size=4).score_kernels(space, spec, ["sum"])


def test_a_kernel_free_score_skips_the_kernel_and_agrees_with_the_full_scorer():
    import search_spaces

    space = search_spaces.create_search_space("nb201", cells=1)
    spec = space.sample(2)
    full = NTKScorer(batch_size=8, proxies=True).score(space, spec)
    cheap_scorer = NTKScorer(batch_size=8, proxies=True, needs=["ntk-agg-v4"])
    assert not cheap_scorer.kernel_needed()
    cheap = cheap_scorer.score(space, spec)
    assert "ntk" not in cheap.phases and "cond" not in cheap.metrics
    for name in ("feature_decorrelation", "backward_decorrelation"):
        assert cheap.metrics[name] == pytest.approx(full.metrics[name], rel=1e-6)
    assert "naswot" not in cheap.metrics  # only what the score reads
    assert set(cheap.metrics) == {"feature_decorrelation", "backward_decorrelation"}
    assert (cheap.params, cheap.flops) == (full.params, full.flops)
    assert NTKScorer(batch_size=8, proxies=True, needs=["ntk-agg-v4", "log_cond"]).kernel_needed()


def test_zico_is_the_same_with_and_without_the_kernel_pass_and_runs_only_when_asked():
    import search_spaces
    from ntknas.proxies import zico

    space = search_spaces.create_search_space("nb201", cells=1)
    spec = space.sample(4)
    alone = NTKScorer(batch_size=8, needs=["zico"]).score(space, spec)
    beside = NTKScorer(batch_size=8, needs=["zico", "log_cond"]).score(space, spec)
    assert "ntk" not in alone.phases and "ntk" in beside.phases and "zico" in alone.phases
    scorer = NTKScorer(batch_size=8)
    by_hand = zico(scorer.build(space, spec.to_string()), *scorer.probe)
    assert alone.metrics["zico"] == pytest.approx(beside.metrics["zico"], rel=1e-9)
    assert alone.metrics["zico"] == pytest.approx(by_hand, rel=1e-9)
    default = NTKScorer(batch_size=8, needs=["ntk-agg-v7"]).score(space, spec)
    assert "zico" not in default.metrics and "zico" not in default.phases
    # a network with fewer logits than the probe's classes has no cross-entropy: computing
    # everything leaves ZiCo out, asking for it says why
    small = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 2))
    assert "zico" not in NTKScorer(batch_size=8).score_model(small).metrics
    with pytest.raises(ValueError, match="out of range for a network with 2 logits"):
        NTKScorer(batch_size=8, needs=["zico"]).score_model(small)


def test_a_network_whose_output_ignores_the_input_is_flagged_without_a_kernel():
    import search_spaces

    space = search_spaces.create_search_space("nb201", cells=1)
    cut = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"  # input cut off
    r = NTKScorer(batch_size=8, proxies=True, needs=["ntk-agg-v4"]).score(space, cut)
    assert r.degenerate and "do not depend on the input" in r.reason
    ok = NTKScorer(batch_size=8, proxies=True, needs=["ntk-agg-v4"]).score(space, space.sample(0))
    assert not ok.degenerate and ok.reason is None


@pytest.mark.parametrize(
    ("needs", "forwards"),
    [
        (["zico"], [4, 4, 1]),  # ZiCo's two halves, FLOPs' one image
        (["ntk-agg-v7"], [8, 8, 1]),  # the probe forward, the backward probe's 8 images, FLOPs
        (["zico", "naswot"], [8, 4, 4, 1]),
    ],
)
def test_the_input_check_reads_the_logits_of_a_pass_that_ran(needs, forwards):
    """The input check of a score without a kernel pass runs no forward of its own: it reads
    the probe forward's logits, or ZiCo's (two half batches) when ZiCo is the only pass."""
    import search_spaces

    space = search_spaces.create_search_space("nb201", cells=1)
    cut = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"  # input cut off
    scorer = NTKScorer(batch_size=8, needs=needs)
    flagged = scorer.score(space, cut)
    assert flagged.degenerate and "do not depend on the input" in flagged.reason
    model = scorer.build(space, space.sample(0).to_string())
    batches: list[int] = []
    model.register_forward_hook(lambda module, args, out: batches.append(args[0].shape[0]))
    ok = scorer.score_model(model)
    assert not ok.degenerate and ok.reason is None and "input_check" in ok.phases
    assert batches == forwards


def test_needs_that_the_settings_cannot_provide_are_refused():
    with pytest.raises(ValueError, match="needs backward_decorrelation"):
        NTKScorer(proxies=False, needs=["ntk-agg-v4"])


def test_the_default_scorer_computes_the_default_score_and_the_objective_is_named_once():
    import optuna

    import search_spaces
    from ntknas.combined_scores import DEFAULT_SCORE, metrics_needed
    from ntknas.study import DegenerateKernelError, make_objective

    scorer = NTKScorer(batch_size=8)
    assert scorer.metric == DEFAULT_SCORE
    space = search_spaces.create_search_space("nb201", cells=1)
    result = scorer.score(space, space.sample(0))
    assert metrics_needed([DEFAULT_SCORE]) <= {*result.metrics, "params", "flops"}
    objective = make_objective(space, scorer)  # no second name: the scorer's metric
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=4, catch=(DegenerateKernelError,))
    values = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(values) >= 2
    assert values[0] == 0.0  # the first architecture, ranked among one
    assert all(v <= 0.0 for v in values[1:])


def test_channels_last_is_on_by_default_on_the_cpu_and_checked():
    assert NTKScorer().channels_last is True
    assert NTKScorer(channels_last=False).channels_last is False
    with pytest.raises(ValueError, match="channels_last must be True, False or None"):
        NTKScorer(channels_last="yes")
