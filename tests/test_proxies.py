from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ntknas.proxies import (
    activation_codes,
    kernel_target_alignment,
    krr_metrics,
    naswot,
    one_hot_targets,
)
from ntknas.theory import kernel_ridge
from tests.conftest import SmallCNN


def test_naswot_equals_the_hamming_kernel_logdet():
    g = torch.Generator().manual_seed(0)
    codes = torch.rand(6, 40, generator=g) > 0.5
    c = codes.double()
    k = c @ c.T + (1 - c) @ (1 - c).T
    assert naswot(codes) == pytest.approx(float(torch.logdet(k)), rel=1e-10)
    assert naswot(torch.cat([codes[:1], codes[:1]])) == -math.inf  # identical patterns


def test_activation_codes_cover_every_rectifier_and_leave_the_model_unchanged():
    torch.manual_seed(0)
    model = SmallCNN()
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(5, 3, 8, 8)
    codes = activation_codes(model, x)
    # two ReLU calls (the module is reused), each on 8 x 8 x 8 units
    assert codes.shape == (5, 2 * 8 * 8 * 8) and codes.dtype == torch.bool
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # In-place ReLU: the recorded pattern is of the input, not the rectified output.
    assert 0 < codes.float().mean() < 1


def test_activation_codes_of_a_model_without_rectifiers():
    codes = activation_codes(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), torch.randn(4, 3, 2, 2))
    assert codes.shape == (4, 0)


def test_krr_metrics_match_kernel_ridge_by_hand():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(30, 6, generator=g, dtype=torch.float64)
    labels = torch.arange(30) % 3
    feats[:, :3] += 3 * torch.nn.functional.one_hot(labels, 3)
    K = feats @ feats.T
    m = krr_metrics(K, labels, 20, ridge=1e-2)
    y = one_hot_targets(labels, 3)
    pred = kernel_ridge(K[:20, :20], y[:20], K[20:, :20], ridge=1e-2)
    assert m["krr_accuracy"] == pytest.approx(
        float((pred.argmax(1) == labels[20:]).double().mean())
    )
    assert m["krr_loss"] == pytest.approx(float(((pred - y[20:]) ** 2).sum(1).mean()))
    assert m["krr_accuracy"] > 0.8  # separable classes are learned
    nan = krr_metrics(K * float("nan"), labels, 20)
    assert math.isnan(nan["krr_accuracy"]) and math.isnan(nan["krr_loss"])
    with pytest.raises(ValueError, match="n_fit"):
        krr_metrics(K, labels, 30)


def test_kernel_target_alignment_bounds():
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    y = one_hot_targets(labels, 3)
    assert kernel_target_alignment(y @ y.T, labels) == pytest.approx(1.0)
    assert abs(kernel_target_alignment(torch.eye(6), labels)) < 1.0


def test_streamed_agreement_kernel_equals_the_code_matrix_one():
    from ntknas.proxies import activation_agreement, naswot_from_kernel

    torch.manual_seed(1)
    model = SmallCNN()
    x = torch.randn(6, 3, 8, 8)
    c = activation_codes(model, x).double()
    k = activation_agreement(model, x)
    assert torch.equal(k, c @ c.T + (1 - c) @ (1 - c).T)
    assert naswot_from_kernel(k) == pytest.approx(naswot(c.bool()), rel=1e-12)
