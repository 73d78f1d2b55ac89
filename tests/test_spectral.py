from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ntknas.spectral import get_metric, list_metrics, register_metric, spectrum, unregister_metric

REQUIRED = (
    "cond",
    "log_cond",
    "lambda_min",
    "lambda_max",
    "trace",
    "frobenius",
    "effective_rank",
    "spectral_entropy",
)


def test_required_metrics_registered_with_direction():
    for name in REQUIRED:
        assert get_metric(name).direction in ("minimize", "maximize")
    assert get_metric("cond").direction == "minimize"
    assert get_metric("lambda_min").direction == "maximize"


def test_values_on_known_spectrum():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    ev = np.array([1.0, 2.0, 3.0, 4.0])
    K = q @ np.diag(ev) @ q.T
    r = spectrum(torch.tensor(K))
    assert not r.degenerate and r.reason is None
    assert r["cond"] == pytest.approx(4.0)
    assert r["log_cond"] == pytest.approx(math.log(4.0))
    assert r["lambda_min"] == pytest.approx(1.0)
    assert r["lambda_max"] == pytest.approx(4.0)
    assert r["trace"] == pytest.approx(10.0)
    assert r["frobenius"] == pytest.approx(math.sqrt(30.0))
    p = ev / ev.sum()
    H = -(p * np.log(p)).sum()
    assert r["spectral_entropy"] == pytest.approx(H)
    assert r["effective_rank"] == pytest.approx(math.exp(H))
    assert set(REQUIRED) <= set(r)


def test_float64_eigensolver_resolves_near_duplicate_inputs():
    x = torch.tensor([[1.0, 0.0], [1.0, 1e-4]], dtype=torch.float64)
    K = x @ x.T
    r = spectrum(K)
    ev = np.linalg.eigvalsh(K.numpy())
    assert r["cond"] == pytest.approx(ev[1] / ev[0], rel=1e-6)


@pytest.mark.parametrize(
    "K, reason",
    [
        (torch.ones(4, 4), "rank-deficient"),
        (torch.zeros(3, 3), "zero"),
        (torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]]), "non-finite"),
        (torch.tensor([[float("inf"), 0.0], [0.0, 1.0]]), "non-finite"),
        (torch.diag(torch.tensor([1.0, -1e-9, 2.0])), "rank-deficient"),
    ],
)
def test_degenerate_kernels_are_flagged_not_crashing(K, reason):
    r = spectrum(K)
    assert r.degenerate and reason in r.reason
    if "non-finite" not in reason and "zero" not in reason:
        assert all(math.isfinite(v) for v in r.values())  # clamped, never a silent NaN


def test_registry_rejects_duplicates_and_plugs_in_new_metric():
    with pytest.raises(ValueError, match="already registered"):
        register_metric("cond", direction="minimize")(lambda ev: 0.0)
    with pytest.raises(ValueError, match="direction"):
        register_metric("x_bad", direction="up")
    register_metric("test_top2_ratio", direction="minimize")(lambda ev: float(ev[-1] / ev[-2]))
    try:
        values = spectrum(torch.diag(torch.tensor([1.0, 2.0, 6.0])))
        assert values["test_top2_ratio"] == pytest.approx(3.0)
    finally:
        unregister_metric("test_top2_ratio")


def test_bad_shapes():
    with pytest.raises(ValueError, match="square"):
        spectrum(torch.ones(2, 3))
    with pytest.raises(ValueError, match="unknown metric"):
        spectrum(torch.eye(2), metrics=["nope"])


def test_lambda_min_cosine_ignores_per_sample_scale():
    torch.manual_seed(0)
    g = torch.randn(5, 40, dtype=torch.float64)
    K = g @ g.T
    scale = torch.diag(torch.tensor([1.0, 10.0, 0.1, 3.0, 1e3], dtype=torch.float64))
    value = spectrum(K)["lambda_min_cosine"]
    assert 0.0 < value < 1.0
    assert spectrum(scale @ K @ scale)["lambda_min_cosine"] == pytest.approx(value, rel=1e-9)
    assert spectrum(torch.diag(torch.tensor([1.0, 5.0, 9.0])))[
        "lambda_min_cosine"
    ] == pytest.approx(1.0)
    g[1] = 4 * g[0]  # a duplicated gradient direction
    assert spectrum(g @ g.T)["lambda_min_cosine"] == pytest.approx(0.0, abs=1e-9)


def test_kernel_level_metrics_plug_in_by_name():
    with pytest.raises(ValueError, match="unknown metric input"):
        register_metric("x_bad_input", direction="maximize", of="matrix")
    register_metric("test_max_offdiag", direction="minimize", of="kernel")(
        lambda K: float((K - torch.diag(torch.diag(torch.as_tensor(K))).numpy()).max())
    )
    try:
        K = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
        assert spectrum(K)["test_max_offdiag"] == pytest.approx(0.5)
    finally:
        unregister_metric("test_max_offdiag")


def test_registries_take_temporary_entries_back():
    import search_spaces
    from ntknas.combined_scores import ScoreRule, list_scores, register_score, unregister_score
    from ntknas.spectral import register_metric, unregister_metric

    before = (list_metrics(), list_scores(), search_spaces.list_search_spaces())
    register_metric("temporary_top", direction="maximize")(lambda ev: float(ev[-1]))
    register_score(ScoreRule("temporary-rule", {"params": "maximize"}))
    search_spaces.register_search_space("temporary_space")(lambda **_: None)
    unregister_metric("temporary_top")
    unregister_score("temporary-rule")
    search_spaces.unregister_search_space("temporary_space")
    assert (list_metrics(), list_scores(), search_spaces.list_search_spaces()) == before
    for remove in (unregister_metric, unregister_score, search_spaces.unregister_search_space):
        with pytest.raises(KeyError, match="temporary"):
            remove("temporary")
