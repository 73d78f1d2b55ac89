from __future__ import annotations

import pytest
import torch

from ntknas.theory import (
    analytic_ntk,
    kernel_ridge,
    linearized_prediction,
    nystrom_ridge,
    random_features_ridge,
    relu_random_features,
    ridgeless,
    stable_learning_rate,
)


@pytest.fixture()
def problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    xt = torch.randn(7, 3, generator=g, dtype=torch.float64)
    y = torch.sin(x[:, 0]) + x[:, 1] ** 2
    _, k_train = analytic_ntk(x, depth=2)
    _, k_test = analytic_ntk(xt, x, depth=2)
    return k_train, y, k_test, xt


def test_ridge_matches_the_normal_equations(problem) -> None:
    K, y, T, _ = problem
    lam = 0.3
    expected = T @ torch.linalg.solve(K + lam * torch.eye(40, dtype=torch.float64), y)
    got = kernel_ridge(K, y, T, ridge=lam, relative=False)
    assert torch.allclose(got, expected, rtol=1e-8, atol=1e-10)
    relative = kernel_ridge(K, y, T, ridge=0.1)
    assert torch.allclose(
        relative, kernel_ridge(K, y, T, ridge=0.1 * float(K.trace()) / 40, relative=False)
    )


def test_ridgeless_interpolates_and_is_the_limit_of_small_ridge(problem) -> None:
    K, y, T, _ = problem
    assert torch.allclose(ridgeless(K, y), y, atol=1e-6)
    assert torch.allclose(
        ridgeless(K, y, T), kernel_ridge(K, y, T, ridge=1e-12), rtol=1e-4, atol=1e-6
    )


def test_multi_output_targets(problem) -> None:
    K, y, T, _ = problem
    Y = torch.stack([y, -2 * y], dim=1)
    out = kernel_ridge(K, Y, T, ridge=1e-2)
    assert out.shape == (7, 2)
    assert torch.allclose(out[:, 1], -2 * out[:, 0])


def test_gradient_flow_limits(problem) -> None:
    K, y, T, _ = problem
    assert torch.allclose(
        linearized_prediction(K, y, T, time=0.0), torch.zeros(7, dtype=torch.float64)
    )
    late = linearized_prediction(K, y, T, time=1e9)
    assert torch.allclose(late, ridgeless(K, y, T), rtol=1e-3, atol=1e-4)
    f0_train = torch.full((40,), 0.5, dtype=torch.float64)
    f0_test = torch.full((7,), 0.5, dtype=torch.float64)
    with_f0 = linearized_prediction(K, y, T, time=0.0, f0_train=f0_train, f0_test=f0_test)
    assert torch.allclose(with_f0, f0_test)


def test_gradient_descent_matches_explicit_steps(problem) -> None:
    """The eigendecomposition formula equals running GD on the linearized model step by step."""
    K, y, T, _ = problem
    eta = 0.9 * stable_learning_rate(K)
    f_train = torch.zeros(40, dtype=torch.float64)
    f_test = torch.zeros(7, dtype=torch.float64)
    for _ in range(25):
        residual = f_train - y
        f_train = f_train - eta * K @ residual
        f_test = f_test - eta * T @ residual
    got = linearized_prediction(K, y, T, learning_rate=eta, steps=25)
    assert torch.allclose(got, f_test, rtol=1e-6, atol=1e-8)
    assert torch.allclose(
        linearized_prediction(K, y, learning_rate=eta, steps=25), f_train, rtol=1e-6, atol=1e-8
    )


def test_gradient_descent_checks_the_stability_bound(problem) -> None:
    K, y, T, _ = problem
    bound = stable_learning_rate(K)
    with pytest.raises(ValueError, match="stability bound"):
        linearized_prediction(K, y, T, learning_rate=1.01 * bound, steps=3)
    with pytest.raises(ValueError, match="either time"):
        linearized_prediction(K, y, T)


def test_nystrom_error_falls_with_landmarks(problem) -> None:
    K, y, T, _ = problem
    errors = [nystrom_ridge(K, y, T, landmarks=m, ridge=1e-3).relative_error for m in (5, 20, 40)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-6


def test_random_features_approach_the_nngp_regression() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(30, 4, generator=g, dtype=torch.float64)
    xt = torch.randn(5, 4, generator=g, dtype=torch.float64)
    y = x[:, 0] - x[:, 2]
    nngp, _ = analytic_ntk(x, depth=1, bias_var=0.1)
    nngp_t, _ = analytic_ntk(xt, x, depth=1, bias_var=0.1)
    exact = kernel_ridge(nngp, y, nngp_t, ridge=1e-2)
    errors = []
    for features in (64, 4096):
        phi = relu_random_features(torch.cat([x, xt]), features=features, bias_var=0.1, seed=1)
        errors.append(
            random_features_ridge(phi[:30], y, phi[30:], ridge=1e-2, exact=exact).relative_error
        )
    assert errors[1] < errors[0] and errors[1] < 0.1
    phi = relu_random_features(x, features=20000, bias_var=0.1)
    assert torch.allclose(phi @ phi.T, nngp, rtol=0.1, atol=0.05)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda K, y: kernel_ridge(K[:, :3], y), "square"),
        (lambda K, y: kernel_ridge(K, y[:3]), "rows"),
        (lambda K, y: kernel_ridge(K, y, K[:, :3]), "k_test"),
        (lambda K, y: kernel_ridge(K, y, ridge=-1.0), "ridge"),
        (lambda K, y: kernel_ridge(K * float("nan"), y), "non-finite"),
        (lambda K, y: nystrom_ridge(K, y, K, landmarks=0), "landmarks"),
    ],
)
def test_bad_input(problem, call, message: str) -> None:
    K, y, _, _ = problem
    with pytest.raises(ValueError, match=message):
        call(K, y)
