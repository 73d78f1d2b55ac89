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


class _NoRunningUpdate(nn.BatchNorm2d):
    """A BatchNorm subclass whose forward never touches its running buffers."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.BatchNorm2d(3),  # read from its running buffers
        lambda: nn.BatchNorm2d(3, momentum=None),  # cumulative average: measured from the input
        lambda: nn.BatchNorm2d(3, track_running_stats=False),
        lambda: _NoRunningUpdate(3),
    ],
    ids=["momentum", "cumulative", "untracked", "overridden-forward"],
)
def test_recorded_statistics_are_the_batch_statistics_and_leave_the_update_as_it_was(make):
    torch.manual_seed(0)
    norm = make()
    if norm.running_mean is not None:
        with torch.no_grad():
            norm.running_mean.uniform_(-1, 1)
            norm.running_var.uniform_(0.5, 2)
    twin = make()
    twin.load_state_dict(norm.state_dict())
    x = torch.randn(4, 3, 5, 5) * 3 + 2
    with recorded_statistics(norm) as stats:
        norm.train()(x)
        norm(x[:2])
    twin.train()(x)
    twin(x[:2])
    for (mean, var), batch in zip(stats[""], (x, x[:2]), strict=True):
        torch.testing.assert_close(mean, batch.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(var, batch.var((0, 2, 3), unbiased=False), rtol=1e-5, atol=1e-6)
    for name, buffer in twin.named_buffers():  # the running update, as without recording
        torch.testing.assert_close(dict(norm.named_buffers())[name], buffer, rtol=1e-6, atol=1e-7)
    assert norm.momentum == twin.momentum


def test_recorded_statistics_put_the_module_back_when_the_forward_raises():
    norm = nn.BatchNorm2d(3)
    before = {name: b.clone() for name, b in norm.named_buffers()}

    def fail(*_args: object) -> None:
        raise RuntimeError("inside the forward")

    handle = norm.register_forward_hook(fail)
    with pytest.raises(RuntimeError, match="inside the forward"):
        with recorded_statistics(norm):
            norm.train()(torch.randn(4, 3, 2, 2))
    handle.remove()
    assert norm.momentum == 0.1
    for name, buffer in norm.named_buffers():
        if name != "num_batches_tracked":
            torch.testing.assert_close(buffer, before[name], rtol=0, atol=0)
