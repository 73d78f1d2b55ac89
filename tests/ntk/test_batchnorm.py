"""The one BatchNorm-with-constant-statistics helper shared by the engine and the probes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ntknas.ntk import constant_statistics, from_recorded, recorded_statistics
from ntknas.ntk._batchnorm import from_buffers, this_batch


class TwiceNormalized(nn.Module):
    """One BatchNorm called twice per forward (shared module), between two convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(self.norm(x))).flatten(1)


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = TwiceNormalized().double()
    with torch.no_grad():
        net.norm.weight.uniform_(0.5, 1.5)
        net.norm.bias.uniform_(-0.5, 0.5)
    return net


def test_recorded_statistics_as_constants_reproduce_train_mode_on_any_subset():
    net = _net()
    x = torch.randn(6, 3, 5, 5, dtype=torch.float64) * 2 + 1
    with recorded_statistics(net) as stats:
        full = net.train()(x)
    assert [len(calls) for calls in stats.values()] == [2]  # one entry per call, in order
    with constant_statistics(net, from_recorded(stats)):
        alone = torch.cat([net(x[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(alone, full, rtol=1e-12, atol=1e-12)


def test_constants_carry_no_gradient_through_the_statistics():
    net = _net()
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    with recorded_statistics(net) as stats:
        net.train()(x)
    with constant_statistics(net, from_recorded(stats)):
        first = net(x)[0].sum()
    (grad,) = torch.autograd.grad(first, x)
    assert grad[1:].abs().max() == 0  # sample 0's output does not depend on the others
    assert grad[0].abs().max() > 0


def test_this_batch_matches_train_mode_and_reports_normalized_inputs():
    net = _net()
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    expected = net.train()(x)
    seen: dict[str, list[torch.Tensor]] = {}
    with constant_statistics(net, this_batch, lambda n, xhat: seen.setdefault(n, []).append(xhat)):
        got = net(x)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    xhat = seen["norm"][0]
    torch.testing.assert_close(
        xhat.mean((0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-10, rtol=0
    )


def test_buffers_source_matches_eval_mode_and_forward_is_restored():
    net = _net()
    with torch.no_grad():
        net.norm.running_mean.uniform_(-1, 1)
        net.norm.running_var.uniform_(0.5, 2)
    x = torch.randn(3, 3, 4, 4, dtype=torch.float64)
    expected = net.eval()(x)
    buffers = dict(net.named_buffers())
    with constant_statistics(net.train(), from_buffers(buffers)):
        got = net(x)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert "forward" not in vars(net.norm)  # the class's forward again
    with pytest.raises(RuntimeError):
        with constant_statistics(net, from_buffers(buffers)):
            raise RuntimeError("inside")
    assert "forward" not in vars(net.norm)
