"""The empirical Neural Tangent Kernel engine.

Every implementation computes the same matrix: Θ = J Jᵀ, where J holds, row by row, the gradient
of one (sample, output-direction) pair with respect to the selected parameters. The row sets are

* ``kernel="sum"``:   one row per sample, direction ``ones(C)`` (Θ is B×B),
* ``kernel="trace"``: C rows per sample, directions ``e_c``, summed over c (Θ is B×B),
* ``kernel="full"``:  C rows per sample, kept apart (Θ is (B·C)×(B·C), sample-major: row
  ``i * C + c`` is sample ``i``, class ``c``).

Θ is accumulated parameter group by parameter group (Θ = Σ_g J_g J_gᵀ), so no implementation ever
holds more than one group's slice of the Jacobian; a group is sized to ``memory_budget`` bytes.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vjp, vmap

from ntknas.ntk import _phases
from ntknas.ntk._gram import GRAM_CHUNK, _forward_error, _gram_update, gram_dtype  # noqa: F401

KERNELS: tuple[str, ...] = ("sum", "trace", "full")
BN_MODES: tuple[str, ...] = ("batch", "frozen", "eval")
PARAM_SETS: tuple[str, ...] = ("all", "weights")
IMPLEMENTATIONS: tuple[str, ...] = ("auto", "func", "hooks", "autograd", "reference")

_DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes of Jacobian held at once


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


#: How to pick the logits out of a model's output: None (the output is the logits, or holds
#: exactly one tensor), an index into a tuple/list, a key of a mapping, or a callable.
OutputSelector = int | str | Callable[[Any], torch.Tensor] | None


def check_output_selector(output: object) -> None:
    """Raise ``ValueError`` unless ``output`` is None, an int, a str or a callable."""
    if output is None or callable(output):
        return
    if isinstance(output, bool) or not isinstance(output, (int, str)):
        raise ValueError(
            f"output must be None, an index, a key or a callable, not {type(output).__name__}"
        )


def _describe(items: Sequence[object] | dict) -> str:
    pairs = items.items() if isinstance(items, dict) else enumerate(items)
    return ", ".join(
        f"{k!r}: {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}"
        for k, v in pairs
    )


def logits_of(output: object, select: OutputSelector = None) -> torch.Tensor:
    """The logits in a model's output, as a 2-D (batch, classes) tensor.

    ``select`` picks them: an index into a tuple/list output, a key of a mapping, or a callable
    applied to the output. Without it the output must be a tensor, a tuple/list or mapping
    holding exactly one tensor, a mapping with a ``"logits"`` key, or an object with a
    ``logits`` attribute. A tuple of several tensors — ``(features, logits)`` of the
    NAS-Bench-201 / AutoDL networks, ``(logits, aux)`` of Inception and DARTS — is never
    guessed: it raises ``ValueError`` naming the items.

    Example:
        >>> logits_of((torch.zeros(2, 10), "aux")).shape
        torch.Size([2, 10])
        >>> logits_of((torch.zeros(2, 64), torch.zeros(2, 10)), 1).shape
        torch.Size([2, 10])
        >>> logits_of((torch.zeros(2, 64), torch.zeros(2, 10)))
        Traceback (most recent call last):
        ...
        ValueError: the model returned a tuple of 2 tensors (0: (2, 64), 1: (2, 10)); say which holds the logits with output=INDEX or output=callable
    """
    if select is not None:
        check_output_selector(select)
        try:
            output = select(output) if callable(select) else output[select]  # type: ignore[index]
        except (IndexError, KeyError, TypeError) as error:
            raise ValueError(
                f"output={select!r} does not pick an item of the model's "
                f"{type(output).__name__} output: {error}"
            ) from None
    elif isinstance(output, (tuple, list)):
        tensors = [item for item in output if isinstance(item, torch.Tensor)]
        if len(tensors) != 1:
            raise ValueError(
                f"the model returned a {type(output).__name__} of {len(tensors)} tensors "
                f"({_describe(output)}); say which holds the logits with output=INDEX or "
                "output=callable"
            )
        output = tensors[0]
    elif isinstance(output, dict):
        tensors = [v for v in output.values() if isinstance(v, torch.Tensor)]
        if "logits" in output:
            output = output["logits"]
        elif len(tensors) == 1:
            output = tensors[0]
        else:
            raise ValueError(
                f"the model returned a mapping of {len(tensors)} tensors ({_describe(output)}) "
                "and no 'logits' key; say which holds the logits with output=KEY"
            )
    elif not isinstance(output, torch.Tensor) and hasattr(output, "logits"):
        output = output.logits
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"the model returned {type(output).__name__}, not a tensor of logits")
    if output.dim() == 1:
        output = output.unsqueeze(-1)
    if output.dim() != 2:
        raise ValueError(
            f"the model output has shape {tuple(output.shape)}; expected (batch, classes)"
        )
    return output


def is_batchnorm(module: nn.Module) -> bool:
    """True for every BatchNorm flavour (1d/2d/3d, lazy, synchronized)."""
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def select_parameters(model: nn.Module, params: str = "all") -> dict[str, torch.Tensor]:
    """The trainable parameters the kernel differentiates, by name.

    ``"all"``: every parameter with ``requires_grad``; ``"weights"``: those whose name contains
    ``"weight"`` (TE-NAS's choice: biases and BatchNorm shifts are left out).
    """
    _check_choice("params", params, PARAM_SETS)
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


def batch_statistics(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
def _modes(model: nn.Module, bn: str) -> Iterator[None]:
    """Set train/eval flags for a kernel pass and restore the caller's flags afterwards.

    Everything runs in eval mode (dropout off); BatchNorm runs in train mode for ``bn="batch"``.
    """
    saved = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        if bn == "batch":
            for m in model.modules():
                if is_batchnorm(m):
                    m.train()
        yield
    finally:
        for m, flag in saved:
            m.training = flag


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

    stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if bn == "frozen" and bn_modules and calibrate:
        # One train-mode pass records each BatchNorm's batch statistics; they then act as
        # constants (as running statistics of an eval-mode pass), so the forward is identical
        # to train mode but samples are independent.
        hooks = []
        for name, m in bn_modules.items():

            def record(mod: nn.Module, inputs: tuple[torch.Tensor, ...], _n: str = name) -> None:
                stats[_n] = batch_statistics(inputs[0])

            hooks.append(m.register_forward_pre_hook(record))
        calibration = {name: b.clone() for name, b in constants.items()}
        try:
            with _modes(model, "batch"), torch.no_grad():
                functional_call(model, {**calibration, **differentiable}, (x,))
        except (RuntimeError, IndexError, TypeError) as error:
            raise _forward_error(x, error) from error
        finally:
            for h in hooks:
                h.remove()
        for name, (mean, var) in stats.items():
            prefix = f"{name}." if name else ""
            constants[prefix + "running_mean"] = mean
            constants[prefix + "running_var"] = var

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


def contract_full(theta: torch.Tensor, num_classes: int, kernel: str) -> torch.Tensor:
    """The ``"sum"`` or ``"trace"`` kernel contracted from a ``"full"`` one, exactly.

    With rows ``i * C + c`` (sample i, class c), the sum kernel adds every class pair,
    Θ_sum[i, j] = Σ_{c,c'} Θ_full[iC + c, jC + c'], and the trace kernel the matching ones,
    Θ_trace[i, j] = Σ_c Θ_full[iC + c, jC + c]. One full pass thus gives all three kernels.

    Args:
        theta: the full kernel, shape (B·C, B·C).
        num_classes: C.
        kernel: ``"sum"``, ``"trace"`` or ``"full"`` (returned as is).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
        >>> x = torch.randn(5, 4)
        >>> full = empirical_ntk(net, x, kernel="full")
        >>> torch.allclose(contract_full(full, 3, "sum"), empirical_ntk(net, x, kernel="sum"))
        True
    """
    _check_choice("kernel", kernel, KERNELS)
    size = theta.shape[0]
    if theta.dim() != 2 or theta.shape[1] != size or num_classes < 1 or size % num_classes:
        raise ValueError(
            f"a full kernel of shape (B*{num_classes}, B*{num_classes}) is needed, "
            f"got {tuple(theta.shape)}"
        )
    if kernel == "full":
        return theta
    b = size // num_classes
    blocks = theta.reshape(b, num_classes, b, num_classes)
    if kernel == "sum":
        return blocks.sum(dim=(1, 3))
    return blocks.diagonal(dim1=1, dim2=3).sum(-1)


# --------------------------------------------------------------------------- implementations


def _jacobian_func(
    work: _Pass, names: list[str], directions: torch.Tensor, sample_chunk: int | None
) -> torch.Tensor:
    """Per-sample Jacobian slice (B, R, P_g) with torch.func (vmap over samples, vjp inside)."""
    group = {n: work.differentiable[n] for n in names}
    others = {n: t for n, t in work.differentiable.items() if n not in group}

    def one_sample(tensors: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        def f(t: dict[str, torch.Tensor]) -> torch.Tensor:
            return work.call({**others, **t}, xi.unsqueeze(0)).squeeze(0)

        _, pullback = vjp(f, tensors)
        (grads,) = vmap(pullback)(directions)
        return torch.cat([grads[n].reshape(directions.shape[0], -1) for n in names], dim=1)

    return vmap(one_sample, in_dims=(None, 0), chunk_size=sample_chunk)(group, work.x)


def _rows_cotangents(work: _Pass, directions: torch.Tensor) -> torch.Tensor:
    """Cotangents on the batched output for every (sample, direction) row: (B·R, B, C)."""
    b, (r, c) = work.x.shape[0], directions.shape
    cot = torch.zeros(b, r, b, c, dtype=directions.dtype, device=directions.device)
    idx = torch.arange(b, device=directions.device)
    cot[idx, :, idx, :] = directions
    return cot.reshape(b * r, b, c)


def _batched_output(work: _Pass) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    tensors = {n: t.detach().requires_grad_(True) for n, t in work.differentiable.items()}
    with torch.enable_grad():
        out = work.call(tensors, work.x)
    return out, tensors


def _jacobian_autograd(
    work: _Pass,
    names: list[str],
    directions: torch.Tensor,
    row_chunk: int,
    out: torch.Tensor,
    tensors: dict[str, torch.Tensor],
) -> torch.Tensor:
    """Jacobian slice (B, R, P_g) by vectorized backward passes of the batched forward
    (``autograd.grad(..., is_grads_batched=True)``): exact for coupled samples (bn="batch")."""
    cot = _rows_cotangents(work, directions)
    inputs = [tensors[n] for n in names]
    pieces = []
    for start in range(0, cot.shape[0], row_chunk):
        n_rows = min(row_chunk, cot.shape[0] - start)
        if n_rows == 1:  # a plain backward: no vmap overhead (the fastest choice on CPUs)
            grads = torch.autograd.grad(
                out, inputs, grad_outputs=cot[start], retain_graph=True, allow_unused=True
            )
            grads = tuple(g.unsqueeze(0) if g is not None else None for g in grads)
        else:
            grads = torch.autograd.grad(
                out,
                inputs,
                grad_outputs=cot[start : start + n_rows],
                is_grads_batched=True,
                retain_graph=True,
                allow_unused=True,
            )
        pieces.append(
            torch.cat(
                [
                    (g if g is not None else torch.zeros_like(t).expand(n_rows, *t.shape)).reshape(
                        n_rows, -1
                    )
                    for g, t in zip(grads, inputs)
                ],
                dim=1,
            )
        )
    return torch.cat(pieces).reshape(work.x.shape[0], directions.shape[0], -1)


def _jacobian_reference(
    work: _Pass,
    names: list[str],
    directions: torch.Tensor,
    out: torch.Tensor,
    tensors: dict[str, torch.Tensor],
) -> torch.Tensor:
    """The plain loop: one autograd call per sample and direction."""
    inputs = [tensors[n] for n in names]
    rows = []
    for i in range(work.x.shape[0]):
        for v in directions:
            grads = torch.autograd.grad(
                (out[i] * v).sum(), inputs, retain_graph=True, allow_unused=True
            )
            rows.append(
                torch.cat(
                    [
                        (g if g is not None else torch.zeros_like(t)).reshape(-1)
                        for g, t in zip(grads, inputs)
                    ]
                )
            )
    return torch.stack(rows).reshape(work.x.shape[0], directions.shape[0], -1)


def _kernel_once(
    model: nn.Module,
    x: torch.Tensor,
    *,
    kernel: str,
    bn: str,
    params: str,
    implementation: str,
    memory_budget: int,
    chunk_size: int | None,
    by_layer: bool = False,
    output: OutputSelector = None,
) -> torch.Tensor | dict[str, torch.Tensor]:
    """Θ of the model's current weights, or with ``by_layer`` each module's kernel Θ_l (module
    name → tensor, in model order; their sum is Θ)."""
    with _phases.phase("setup"):
        hooks = implementation == "hooks"
        work = _prepare(
            model,
            x,
            kernel=kernel,
            bn=bn,
            params=params,
            calibrate=not hooks,
            probe=not hooks,
            output=output,
        )
    if implementation == "hooks":
        from ntknas.ntk._hooks import kernel_hooks

        layers: dict[str, torch.Tensor] | None = {} if by_layer else None
        with _modes(model, bn):
            theta = kernel_hooks(work, layers)
        if theta is not None:
            return layers if layers is not None else theta
        implementation = "func"
        work = _prepare(model, x, kernel=kernel, bn=bn, params=params, output=output)

    b, c = x.shape[0], work.num_classes
    size = b * c if kernel == "full" else b
    theta = torch.zeros(size, size, dtype=gram_dtype(x.dtype), device=x.device)
    # Direction chunks: "full" needs every class of a group at once; "trace" can stream classes.
    if kernel == "trace":
        per_chunk = max(1, min(c, chunk_size or c))
        direction_chunks = [work.directions[s : s + per_chunk] for s in range(0, c, per_chunk)]
    else:
        direction_chunks = [work.directions]
    shapes = {n: t.shape for n, t in work.differentiable.items()}
    rows = b * direction_chunks[0].shape[0]
    # The same parameter groups (and so the same passes) with or without per-layer kernels: a
    # group's Jacobian is split by columns into the modules its parameters belong to.
    groups = parameter_groups(shapes, rows, memory_budget, x.element_size())
    if by_layer:
        layer_thetas = {_module_of(n): torch.zeros_like(theta) for n in shapes}  # model order

    with _modes(model, bn):
        out = tensors = None
        if implementation in ("autograd", "reference"):
            try:
                with _phases.phase("forward"):
                    out, tensors = _batched_output(work)
            except (RuntimeError, IndexError, TypeError) as error:
                raise _forward_error(x, error) from error
        for names in groups:
            for directions in direction_chunks:
                with _phases.phase("per_sample_gradients"):
                    if implementation == "func":
                        jac = _jacobian_func(work, names, directions, chunk_size)
                    elif implementation == "autograd":
                        default = 32 if x.device.type == "cuda" else 1
                        jac = _jacobian_autograd(
                            work, names, directions, chunk_size or default, out, tensors
                        )
                    else:
                        jac = _jacobian_reference(work, names, directions, out, tensors)
                with _phases.phase("gram"):
                    if by_layer:
                        for module, columns in _module_columns(names, shapes):
                            _gram_update(layer_thetas[module], jac[:, :, columns], kernel)
                    else:
                        _gram_update(theta, jac, kernel)
                del jac
    if by_layer:
        return {m: t.to(x.dtype) for m, t in layer_thetas.items()}
    return theta.to(x.dtype)


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


def reinitialize(model: nn.Module) -> None:
    """Draw fresh initial values for every parameter, with each module's own ``reset_parameters``
    (BatchNorm's also resets its running statistics). Uses the global torch RNG."""
    for m in model.modules():
        reset: Callable[[], None] | None = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()


def resolve_implementation(
    implementation: str, bn: str, model: nn.Module | None = None, kernel: str = "sum"
) -> str:
    """The implementation ``"auto"`` stands for.

    ``bn="batch"`` couples the samples, so only the batched-backward implementation is exact;
    otherwise per-layer hooks when every selected parameter sits in a supported layer (and the
    kernel is not "full"), else torch.func.
    """
    _check_choice("implementation", implementation, IMPLEMENTATIONS)
    if implementation != "auto":
        if bn == "batch" and implementation in ("func", "hooks"):
            raise ValueError(
                f"implementation {implementation!r} computes per-sample gradients and cannot "
                "follow train-mode BatchNorm (bn='batch'); use 'autograd' or 'reference'"
            )
        return implementation
    if bn == "batch":
        return "autograd"
    if model is not None and kernel != "full":
        from ntknas.ntk._hooks import hooks_support

        if hooks_support(model) is None:
            return "hooks"
    return "func"


def empirical_ntk(
    model: nn.Module,
    x: torch.Tensor,
    *,
    kernel: str = "sum",
    bn: str = "frozen",
    params: str = "all",
    implementation: str = "auto",
    repeats: int = 1,
    seed: int = 0,
    chunk_size: int | None = None,
    memory_budget: int = _DEFAULT_MEMORY_BUDGET,
    allow_tf32: bool = False,
    output: OutputSelector = None,
) -> torch.Tensor:
    """Empirical Neural Tangent Kernel Θ = J Jᵀ of ``model`` on the batch ``x``.

    Args:
        model: a ``torch.nn.Module`` returning logits of shape (B, C) (or an output that
            :func:`logits_of` reads; see ``output``). It is not changed: weights, running
            statistics and train/eval flags are the same afterwards.
        x: the probe batch, shape (B, ...), on the model's device.
        kernel: ``"sum"``: Θ[i, j] = <∇θ Σ_c f_c(x_i), ∇θ Σ_c f_c(x_j)>, shape (B, B);
            ``"trace"``: Σ_c <∇θ f_c(x_i), ∇θ f_c(x_j)>, shape (B, B); ``"full"``: every class
            pair, shape (B·C, B·C), row ``i * C + c`` = sample i, class c.
        bn: how BatchNorm behaves. ``"batch"``: train-mode batch statistics with gradients
            flowing through them (TE-NAS's exact kernel; samples are coupled); ``"frozen"``: this
            batch's statistics as constants (forward identical to train mode, samples
            independent); ``"eval"``: the running statistics.
        params: ``"all"`` trainable parameters or ``"weights"`` (names containing "weight").
        implementation: ``"func"`` (torch.func per-sample vjp), ``"hooks"`` (per-layer
            J_l J_lᵀ from activations and output gradients), ``"autograd"`` (vectorized
            backward per row, ``is_grads_batched``; exact for ``bn="batch"``), ``"reference"``
            (a plain loop, one autograd call per sample and class) or ``"auto"``.
        repeats: 1 scores the model's current weights; N > 1 averages Θ over N fresh
            initializations of a copy, seeded ``seed, seed + 1, ...``.
        seed: first seed for ``repeats > 1``.
        chunk_size: samples per vmap call (func), rows per batched backward (autograd; default
            32 on CUDA, 1 = a plain backward per row on CPU, where vmap only adds overhead),
            classes per pass (trace kernel). None picks defaults.
        memory_budget: bytes of Jacobian held at once; Θ is accumulated over parameter groups
            of this size (a single larger tensor is one group).
        allow_tf32: keep TF32 convolutions/matmuls on CUDA (about 1e-3 relative error in Θ).
        output: which part of a tuple / mapping output holds the logits: an index (``1`` for
            NAS-Bench-201's ``(features, logits)``), a key, or a callable; needed whenever the
            output holds more than one tensor (never guessed; :func:`logits_of`).

    Returns:
        Θ as a tensor of the input's dtype and device.

    Raises:
        ValueError: a non-module, a non-tensor or ill-shaped input, a model without (selected)
            parameters, or an unknown kernel / bn / params / implementation name.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        >>> empirical_ntk(net, torch.randn(5, 4)).shape
        torch.Size([5, 5])
    """
    return _ntk(
        model,
        x,
        kernel=kernel,
        bn=bn,
        params=params,
        implementation=implementation,
        repeats=repeats,
        seed=seed,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        allow_tf32=allow_tf32,
        by_layer=False,
        output=output,
    )


def _ntk(
    model: nn.Module,
    x: torch.Tensor,
    *,
    kernel: str,
    bn: str,
    params: str,
    implementation: str,
    repeats: int,
    seed: int,
    chunk_size: int | None,
    memory_budget: int,
    allow_tf32: bool,
    by_layer: bool,
    output: OutputSelector = None,
) -> Any:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, not {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (batch, ...) with batch >= 1, got {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    _check_choice("kernel", kernel, KERNELS)
    _check_choice("bn", bn, BN_MODES)
    _check_choice("params", params, PARAM_SETS)
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    check_output_selector(output)
    select_parameters(model, params)
    impl = resolve_implementation(implementation, bn, model, kernel)
    if bn == "batch" and x.shape[0] < 2 and any(is_batchnorm(m) for m in model.modules()):
        raise ValueError("bn='batch' needs at least 2 samples (train-mode BatchNorm statistics)")

    options = dict(
        kernel=kernel,
        bn=bn,
        params=params,
        implementation=impl,
        memory_budget=memory_budget,
        chunk_size=chunk_size,
        by_layer=by_layer,
        output=output,
    )
    with tf32_disabled(allow_tf32):
        if repeats == 1:
            return _kernel_once(model, x, **options)
        work = copy.deepcopy(model)
        total: dict[str, torch.Tensor] = {}  # one entry per layer, or "" for the whole kernel
        for r in range(repeats):
            devices = [x.device] if x.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed + r)
                reinitialize(work)
            theta = _kernel_once(work, x, **options)
            for name, t in (theta if by_layer else {"": theta}).items():
                total[name] = total[name] + t if name in total else t
        mean = {name: t / repeats for name, t in total.items()}
        return mean if by_layer else mean[""]


def layerwise_ntk(
    model: nn.Module,
    x: torch.Tensor,
    *,
    kernel: str = "sum",
    bn: str = "frozen",
    params: str = "all",
    implementation: str = "auto",
    repeats: int = 1,
    seed: int = 0,
    chunk_size: int | None = None,
    memory_budget: int = _DEFAULT_MEMORY_BUDGET,
    allow_tf32: bool = False,
    output: OutputSelector = None,
) -> dict[str, torch.Tensor]:
    """Each module's own empirical NTK: Θ_l = J_l J_lᵀ with J_l the Jacobian with respect to the
    selected parameters of module ``l`` alone, so that Σ_l Θ_l = :func:`empirical_ntk`.

    Same arguments and checks as :func:`empirical_ntk` (``kernel`` "sum" or "trace" with the
    hooks implementation; every implementation for every kernel otherwise). Per-layer kernels
    cost no extra passes with any implementation: the hooks form each layer's contribution
    anyway, and the others split each parameter group's Jacobian by module.

    Returns:
        module name → Θ_l (in model order), for every module that holds a selected parameter;
        a module the output does not depend on has a zero kernel.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        >>> layers = layerwise_ntk(net, torch.randn(5, 4))
        >>> list(layers), tuple(layers["0"].shape)
        (['0', '2'], (5, 5))
    """
    return _ntk(
        model,
        x,
        kernel=kernel,
        bn=bn,
        params=params,
        implementation=implementation,
        repeats=repeats,
        seed=seed,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        allow_tf32=allow_tf32,
        by_layer=True,
        output=output,
    )
