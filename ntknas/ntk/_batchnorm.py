"""BatchNorm with constant statistics: the one helper the kernel engine and the probe signals
share.

``bn="frozen"`` (the default everywhere) means: the forward of train mode on the whole batch —
each BatchNorm normalizes with this batch's mean and variance — but the statistics are
constants, not functions of the other samples, so per-sample gradients and any subset of the
batch are well defined. :func:`recorded_statistics` records the statistics of a train-mode
forward; :func:`constant_statistics` then runs forwards in which every BatchNorm normalizes with
statistics it is given (recorded ones, this batch's, or the running ones) as constants.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator

import torch
from torch import nn

#: (mean, biased variance) of one BatchNorm call.
Statistics = tuple[torch.Tensor, torch.Tensor]
#: BatchNorm module name → the statistics of each of its calls in a forward, in call order.
RecordedStatistics = dict[str, list[Statistics]]
#: ``(name, module, call index, input) → (mean, var, x̂ or None)``: the constants one call uses.
StatisticsSource = Callable[
    [str, nn.Module, int, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]
]


def is_batchnorm(module: nn.Module) -> bool:
    """True for every BatchNorm flavour (1d/2d/3d, lazy, synchronized)."""
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def batchnorms(model: nn.Module) -> dict[str, nn.Module]:
    """The model's BatchNorm modules by name."""
    return {name: m for name, m in model.named_modules() if is_batchnorm(m)}


def batch_statistics(h: torch.Tensor) -> Statistics:
    """Per-channel mean and biased variance of a BatchNorm input (N, C, ...), as train mode
    computes them, from one fused kernel (``Tensor.var`` over (N, H, W) is several times slower).

    Example:
        >>> mean, var = batch_statistics(torch.ones(4, 3, 2, 2))
        >>> mean.tolist(), var.tolist()
        ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    """
    with torch.no_grad():
        _, mean, invstd = torch.native_batch_norm(h, None, None, None, None, True, 0.0, 0.0)
    # A constant channel has variance 0; the kernel reports its inverse std as 0, not inf.
    var = torch.where(invstd > 0, invstd.pow(-2), torch.zeros_like(invstd))
    return mean, var


@contextlib.contextmanager
def pass_modes(
    model: nn.Module, *, batchnorm_train: bool, restore_buffers: bool = False
) -> Iterator[None]:
    """Flags for a kernel or probe pass: every module in eval mode (dropout and anything else
    random off) except BatchNorm, in train mode when ``batchnorm_train``; the caller's flags (and,
    with ``restore_buffers``, every buffer, e.g. running statistics a train-mode pass updates)
    are restored afterwards.

    Example:
        >>> net = nn.Sequential(nn.BatchNorm1d(2), nn.Dropout(0.5)).train()
        >>> with pass_modes(net, batchnorm_train=True):
        ...     [m.training for m in net]
        [True, False]
        >>> [m.training for m in net]
        [True, True]
    """
    flags = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()] if restore_buffers else []
    try:
        model.eval()
        if batchnorm_train:
            for m in batchnorms(model).values():
                m.train()
        yield
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for m, flag in flags:
            m.training = flag


#: The forwards known to put each train-mode call's batch statistics into the running buffers.
_UPDATING_FORWARDS = (nn.modules.batchnorm._BatchNorm.forward, nn.SyncBatchNorm.forward)


def _reads_running_buffers(m: nn.Module) -> bool:
    """Whether a call of ``m`` can report its batch statistics through its running buffers
    (train mode, tracked running statistics, an exponential momentum, and the forward of
    PyTorch's own BatchNorm, which updates them: not a patched or overridden one)."""
    return (
        m.training
        and m.track_running_stats
        and type(m).forward in _UPDATING_FORWARDS
        and "forward" not in vars(m)
        and isinstance(m.momentum, (int, float))
        and not isinstance(m.momentum, bool)
        and m.running_mean is not None
        and m.running_var is not None
    )


@contextlib.contextmanager
def recorded_statistics(model: nn.Module) -> Iterator[RecordedStatistics]:
    """Record the batch statistics every BatchNorm computes from its input in the forwards run
    inside the block (run them in train mode), by module name, one entry per call.

    Each call's statistics are read from the module's own normalization: for the call, its
    momentum is 1, so its running buffers receive exactly this batch's mean and unbiased
    variance, which are read and then replaced by the update the call would have made with its
    own momentum (a second pass over the input just for its statistics was ~14 % of a probe
    forward on CPU). Modules this cannot serve (eval mode, no running statistics, cumulative
    momentum) are measured from their input instead (:func:`batch_statistics`).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
        >>> with recorded_statistics(net) as stats:
        ...     _ = net(torch.randn(8, 3, 2, 2))
        >>> [(name, len(calls)) for name, calls in stats.items()]
        [('1', 1)]
    """
    stats: RecordedStatistics = {}
    handles = []
    pending: dict[nn.Module, list[tuple[float, torch.Tensor, torch.Tensor]]] = {}
    for name, m in batchnorms(model).items():
        saved = pending.setdefault(m, [])

        def before(
            module: nn.Module, inputs: tuple[torch.Tensor, ...], _name: str = name, _saved=saved
        ) -> None:
            if not _reads_running_buffers(module):
                stats.setdefault(_name, []).append(batch_statistics(inputs[0]))
                return
            old = (module.momentum, module.running_mean.clone(), module.running_var.clone())
            _saved.append(old)
            module.momentum = 1.0
            with torch.no_grad():  # momentum 1 and zeros: the buffers become exactly the batch's
                module.running_mean.zero_()
                module.running_var.zero_()

        def after(
            module: nn.Module,
            inputs: tuple[torch.Tensor, ...],
            _output: torch.Tensor,
            _name: str = name,
            _saved=saved,
        ) -> None:
            if not _saved:
                return
            momentum, old_mean, old_var = _saved.pop()
            module.momentum = momentum
            x = inputs[0]
            n = x.numel() // x.shape[1]
            with torch.no_grad():
                mean = module.running_mean.clone()
                unbiased = module.running_var.clone()
                # the running buffers hold var · n / (n − 1); the call normalized with var
                stats.setdefault(_name, []).append((mean, unbiased * ((n - 1) / n)))
                module.running_mean.copy_(old_mean.mul_(1 - momentum).add_(mean, alpha=momentum))
                module.running_var.copy_(old_var.mul_(1 - momentum).add_(unbiased, alpha=momentum))

        handles.append(m.register_forward_pre_hook(before))
        handles.append(m.register_forward_hook(after))
    try:
        yield stats
    finally:
        for h in handles:
            h.remove()
        for m, calls in pending.items():  # a forward that raised midway: the module as it was
            if calls:
                momentum, old_mean, old_var = calls[0]
                m.momentum = momentum
                with torch.no_grad():
                    m.running_mean.copy_(old_mean)
                    m.running_var.copy_(old_var)


def this_batch(
    _name: str, module: nn.Module, _call: int, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A :data:`StatisticsSource`: the input's own batch statistics (and x̂, from the same fused
    kernel), as constants."""
    xhat, mean, invstd = torch.native_batch_norm(x, None, None, None, None, True, 0.0, module.eps)
    return mean, invstd.pow(-2) - module.eps, xhat


def from_recorded(stats: RecordedStatistics) -> StatisticsSource:
    """A :data:`StatisticsSource`: the k-th call of a module uses the statistics of its k-th
    call in the recorded forward (:func:`recorded_statistics`)."""

    def source(name: str, _module: nn.Module, call: int, _x: torch.Tensor):  # noqa: ANN202
        mean, var = stats[name][call]
        return mean, var, None

    return source


def from_buffers(buffers: dict[str, torch.Tensor]) -> StatisticsSource:
    """A :data:`StatisticsSource`: the running statistics in ``buffers`` (``<name>.running_mean``
    and ``<name>.running_var``, e.g. a functional call's constants)."""

    def source(name: str, _module: nn.Module, _call: int, _x: torch.Tensor):  # noqa: ANN202
        prefix = f"{name}." if name else ""
        return buffers[prefix + "running_mean"], buffers[prefix + "running_var"], None

    return source


@contextlib.contextmanager
def constant_statistics(
    model: nn.Module,
    source: StatisticsSource,
    on_normalized: Callable[[str, torch.Tensor], None] | None = None,
) -> Iterator[None]:
    """Inside the block every BatchNorm of ``model`` normalizes with the statistics ``source``
    gives, as constants (an eval-mode ``batch_norm``: no gradient flows through them), whatever
    the module's train/eval flag. ``on_normalized(name, x̂)`` receives each call's normalized
    input (the per-sample gradient of the BatchNorm weight is x̂ times the output gradient).
    Calls are counted per forward of ``model``: its k-th call of a module is call ``k``.

    Example:
        >>> net = nn.Sequential(nn.BatchNorm1d(2))
        >>> x = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
        >>> with recorded_statistics(net) as stats:
        ...     full = net(x)
        >>> with constant_statistics(net, from_recorded(stats)):
        ...     alone = net(x[:1])  # the first sample alone, normalized as in the whole batch
        >>> torch.allclose(alone, full[:1])
        True
    """
    calls: dict[str, int] = {}

    def patched(name: str) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
        def forward(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
            k = calls.get(name, 0)
            calls[name] = k + 1
            with torch.no_grad():
                mean, var, xhat = source(name, self, k, x)
                if on_normalized is not None:
                    if xhat is None:
                        xhat = torch.native_batch_norm(
                            x, None, None, mean, var, False, 0.0, self.eps
                        )[0]
                    on_normalized(name, xhat)
            return nn.functional.batch_norm(
                x, mean, var, self.weight, self.bias, training=False, momentum=0.0, eps=self.eps
            )

        return forward

    modules = batchnorms(model)
    for name, m in modules.items():
        m.forward = types.MethodType(patched(name), m)
    restart = model.register_forward_pre_hook(lambda *_: calls.clear())  # k counts per forward
    try:
        yield
    finally:
        restart.remove()
        for m in modules.values():
            del m.forward
