"""Preparing a kernel pass: the parameters it differentiates, BatchNorm modes and recorded
statistics, parameter groups, and re-initialization for repeated kernels."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from ntknas.ntk._batchnorm import (  # noqa: F401
    batch_statistics,
    is_batchnorm,
    pass_modes,
    recorded_statistics,
)
from ntknas.ntk._gram import GRAM_CHUNK, _forward_error, _gram_update, gram_dtype  # noqa: F401
from ntknas.ntk._options import PARAM_SETS, OutputSelector, check_choice, logits_of


def select_parameters(model: nn.Module, params: str = "all") -> dict[str, torch.Tensor]:
    """The trainable parameters the kernel differentiates, by name.

    ``"all"``: every parameter with ``requires_grad``; ``"weights"``: those whose name contains
    ``"weight"`` (TE-NAS's choice: biases and BatchNorm shifts are left out).
    """
    check_choice("params", params, PARAM_SETS)
    selected = {
        name: p
        for name, p in model.named_parameters()
        if p.requires_grad and (params == "all" or "weight" in name)
    }
    if not selected:
        what = "trainable parameters" if params == "all" else "trainable parameters named *weight*"
        raise ValueError(f"the model has no {what}")
    return selected


@contextlib.contextmanager
def tf32_disabled(allow_tf32: bool = False) -> Iterator[None]:
    """Turn TF32 off for cuDNN convolutions and CUDA matmuls inside the block (unless allowed)."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    if not allow_tf32:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _modes(model: nn.Module, bn: str) -> contextlib.AbstractContextManager[None]:
    """The flags of a kernel pass: eval mode (dropout off), BatchNorm in train mode for
    ``bn="batch"``; the caller's flags are restored afterwards."""
    return pass_modes(model, batchnorm_train=bn == "batch")


@dataclass
class _Pass:
    """Everything one kernel pass needs: the model, the tensors to call it with, the rows."""

    model: nn.Module
    x: torch.Tensor
    bn: str
    differentiable: dict[str, torch.Tensor]
    constants: dict[str, torch.Tensor]
    num_classes: int
    directions: torch.Tensor  # (R, C) cotangents per sample
    kernel: str
    output: OutputSelector = None

    def set_output(self, out: torch.Tensor) -> None:
        """Learn the number of classes (and the row directions) from a model output."""
        if not torch.is_floating_point(out):
            raise ValueError("the model output is not a floating-point tensor")
        self.num_classes = out.shape[1]
        if self.kernel == "sum":
            self.directions = torch.ones(1, self.num_classes, dtype=out.dtype, device=out.device)
        else:
            self.directions = torch.eye(self.num_classes, dtype=out.dtype, device=out.device)

    def call(self, tensors: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        out = functional_call(self.model, {**self.constants, **tensors}, (x,))
        return logits_of(out, self.output)


def _prepare(
    model: nn.Module,
    x: torch.Tensor,
    *,
    kernel: str,
    bn: str,
    params: str,
    calibrate: bool = True,
    probe: bool = True,
    output: OutputSelector = None,
) -> _Pass:
    """Everything a kernel pass needs. ``calibrate``: record this batch's BatchNorm statistics
    (bn="frozen"); ``probe``: a small no-grad forward that checks the input and reads C."""
    selected = select_parameters(model, params)
    devices = {p.device for p in model.parameters()}
    if len(devices) == 1 and x.device not in devices:
        raise ValueError(f"the input is on {x.device} but the model is on {devices.pop()}")
    constants: dict[str, torch.Tensor] = {
        name: p.detach() for name, p in model.named_parameters() if name not in selected
    }
    # Buffers are cloned: train-mode BatchNorm updates running statistics in place.
    constants.update({name: b.detach().clone() for name, b in model.named_buffers()})
    differentiable = {name: p.detach() for name, p in selected.items()}

    bn_modules = {name: m for name, m in model.named_modules() if is_batchnorm(m)}
    if bn in ("frozen", "eval"):
        untracked = [name for name, m in bn_modules.items() if m.running_mean is None]
        if untracked:
            raise ValueError(
                f"BatchNorm {untracked[0]!r} keeps no running statistics "
                "(track_running_stats=False); score it with bn='batch'"
            )

    if bn == "frozen" and bn_modules and calibrate:
        # One train-mode pass records each BatchNorm's batch statistics; they then act as
        # constants (as running statistics of an eval-mode pass), so the forward is identical
        # to train mode but samples are independent.
        calibration = {name: b.clone() for name, b in constants.items()}
        try:
            with recorded_statistics(model) as stats, _modes(model, "batch"), torch.no_grad():
                functional_call(model, {**calibration, **differentiable}, (x,))
        except (RuntimeError, IndexError, TypeError) as error:
            raise _forward_error(x, error) from error
        for name, calls in stats.items():
            prefix = f"{name}." if name else ""
            constants[prefix + "running_mean"], constants[prefix + "running_var"] = calls[-1]

    work = _Pass(
        model=model,
        x=x,
        bn=bn,
        differentiable=differentiable,
        constants=constants,
        num_classes=0,
        directions=torch.empty(0),
        kernel=kernel,
        output=output,
    )
    if not probe:
        return work
    try:
        with _modes(model, bn), torch.no_grad():
            out = work.call(differentiable, x[:2] if bn != "batch" else x)
    except (RuntimeError, IndexError, TypeError) as error:
        raise _forward_error(x, error) from error
    work.set_output(out)
    return work


def parameter_groups(
    shapes: dict[str, torch.Size], rows: int, budget_bytes: int, itemsize: int
) -> list[list[str]]:
    """Split parameter names (in order) into groups whose Jacobian slice fits the budget.

    A single tensor larger than the budget forms a group of its own.

    Example:
        >>> parameter_groups({"a": torch.Size([10]), "b": torch.Size([10])}, 2, 100, 4)
        [['a'], ['b']]
    """
    limit = max(1, budget_bytes // max(1, rows * itemsize))
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for name, shape in shapes.items():
        n = math.prod(shape)
        if current and size + n > limit:
            groups.append(current)
            current, size = [], 0
        current.append(name)
        size += n
    if current:
        groups.append(current)
    return groups


def reinitialize(model: nn.Module) -> None:
    """Draw fresh initial values for every parameter, with each module's own ``reset_parameters``
    (BatchNorm's also resets its running statistics). Uses the global torch RNG."""
    for m in model.modules():
        reset: Callable[[], None] | None = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()


def _module_of(parameter: str) -> str:
    return parameter.rsplit(".", 1)[0] if "." in parameter else ""


def _module_columns(names: list[str], shapes: dict[str, torch.Size]) -> list[tuple[str, slice]]:
    """The column ranges of a group's Jacobian that belong to each module, in order."""
    out: list[tuple[str, slice]] = []
    start = 0
    for name in names:
        end = start + shapes[name].numel()
        module = _module_of(name)
        if out and out[-1][0] == module:
            out[-1] = (module, slice(out[-1][1].start, end))
        else:
            out.append((module, slice(start, end)))
        start = end
    return out
