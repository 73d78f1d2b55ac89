from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ntknas.ntk import empirical_ntk
from ntknas.theory import ACTIVATIONS, analytic_ntk, gaussian_expectations
from ntknas.theory.networks import mlp

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "neural_tangents_analytic.json").read_text()
)


def _relative(a: torch.Tensor, b: np.ndarray) -> float:
    b = np.asarray(b)
    return float(np.abs(a.numpy() - b).max() / np.abs(b).max())


@pytest.mark.parametrize(
    "case",
    REFERENCE["cases"],
    ids=lambda c: f"{c['activation']}-{c['parameterization']}-d{c['depth']}-b{c['bias_var']}",
)
def test_matches_neural_tangents(case: dict) -> None:
    """analytic_ntk == neural-tangents 0.6.5 stax kernel_fn to 1e-5 (relu, erf closed forms;
    gelu by quadrature against neural-tangents' closed form)."""
    nngp, ntk = analytic_ntk(
        np.array(REFERENCE["x1"]),
        np.array(REFERENCE["x2"]),
        depth=case["depth"],
        activation=case["activation"],
        weight_var=case["weight_var"],
        bias_var=case["bias_var"],
        parameterization=case["parameterization"],
        width=case["width"],
    )
    assert nngp.dtype == torch.float64 and nngp.shape == (5, 3)
    assert _relative(nngp, case["nngp"]) < 1e-5
    assert _relative(ntk, case["ntk"]) < 1e-5


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_quadrature_agrees_with_closed_forms(activation: str) -> None:
    from ntknas.theory import analytic

    rng = np.random.default_rng(0)
    k11 = rng.uniform(0.5, 2.0, 20)
    k22 = rng.uniform(0.5, 2.0, 20)
    k12 = rng.uniform(-0.9, 0.9, 20) * np.sqrt(k11 * k22)
    closed = analytic._activation_moments(activation, k11, k12, k22, 0)
    if activation == "relu":
        phi, dphi = (lambda u: np.maximum(u, 0)), (lambda u: (u > 0).astype(float))
        tolerance = 0.1  # the step of relu' converges slowly under Gauss-Hermite
    else:
        from scipy.special import erf

        phi, dphi = erf, (lambda u: 2 / np.sqrt(np.pi) * np.exp(-(u**2)))
        tolerance = 1e-8
    quad = gaussian_expectations(phi, dphi, k11, k12, k22, degree=96)
    for c, q in zip(closed, quad):
        error = float(np.abs(c - q).max() / np.abs(c).max())
        assert error < tolerance, error


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_gives_a_symmetric_psd_kernel(activation: str) -> None:
    x = torch.randn(6, 3, dtype=torch.float64)
    nngp, ntk = analytic_ntk(x, depth=2, activation=activation, bias_var=0.05)
    for k in (nngp, ntk):
        assert torch.allclose(k, k.T, atol=1e-10)
        assert torch.linalg.eigvalsh(k).min() > -1e-8 * k.abs().max()
    assert (torch.diagonal(ntk) >= torch.diagonal(nngp) - 1e-12).all()


def test_empirical_ntk_converges_to_the_analytic_kernel() -> None:
    """Relative error of the width-w empirical NTK (ntknas engine) falls about as 1/sqrt(w)."""
    x = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    _, reference = analytic_ntk(x, depth=2, bias_var=0.1)
    errors = {}
    for width in (32, 512):
        e = []
        for seed in range(3):
            torch.manual_seed(seed)
            net = mlp(4, width, 2, bias_var=0.1).double()
            K = empirical_ntk(net, x, implementation="func")
            e.append(float(torch.linalg.norm(K - reference) / torch.linalg.norm(reference)))
        errors[width] = float(np.mean(e))
    ratio = errors[32] / errors[512]  # 1/sqrt(w) predicts 4
    assert 2.0 < ratio < 8.0, errors
    assert errors[512] < 0.15


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "swish"}, "unsupported activation"),
        ({"weight_var": -1.0}, "weight_var"),
        ({"bias_var": -0.1}, "bias_var"),
        ({"depth": -1}, "depth"),
        ({"parameterization": "mup"}, "parameterization"),
        ({"parameterization": "standard"}, "width"),
    ],
)
def test_bad_input_names_the_problem(kwargs: dict, message: str) -> None:
    args = {"depth": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        analytic_ntk(torch.randn(3, 2), **args)


def test_mismatched_input_dimensions() -> None:
    with pytest.raises(ValueError, match="input dimensions differ"):
        analytic_ntk(torch.randn(3, 2), torch.randn(3, 4), depth=1)
    with pytest.raises(ValueError, match="2-D"):
        analytic_ntk(torch.randn(3), depth=1)
