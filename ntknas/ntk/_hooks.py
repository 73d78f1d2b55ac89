"""Per-layer implementation: Θ = Σ_l J_l J_lᵀ from layer inputs and output gradients.

One forward pass records each supported layer's input; one backward pass per output direction
(one for the sum kernel, C for the trace kernel) delivers each layer's output gradient δ, from
which the per-sample parameter gradients of that layer alone are formed and folded into Θ at
once. Only one layer's per-sample gradients exist at a time, and the backward pass never computes
parameter gradients (the input carries ``requires_grad`` instead), so the cost is close to one
training step.

Samples must be independent, so this serves ``bn="frozen"`` and ``bn="eval"``. Supported layers:
Linear, Conv2d (any stride, padding, dilation, groups; zero padding), BatchNorm, LayerNorm. A layer
called twice in one forward (shared weights), an unsupported layer holding a selected parameter,
or a recorded input later modified in place make :func:`kernel_hooks` fall back to torch.func.
"""

from __future__ import annotations

import time
import warnings

import torch
from torch import nn

from ntknas.ntk import _phases
from ntknas.ntk._batchnorm import constant_statistics, from_buffers, this_batch
from ntknas.ntk._gram import _forward_error, _gram_update, gram_dtype
from ntknas.ntk._prepare import _Pass

_SUPPORTED = (nn.Linear, nn.Conv2d, nn.LayerNorm, nn.modules.batchnorm._BatchNorm)


class HooksUnsupported(RuntimeError):
    """The model holds something the per-layer implementation cannot follow."""


def hooks_support(model: nn.Module, selected: dict[str, torch.Tensor] | None = None) -> str | None:
    """None when the per-layer implementation can compute the kernel of ``model``, else why not.

    Example:
        >>> hooks_support(torch.nn.Sequential(torch.nn.Linear(2, 2))) is None
        True
    """
    owners: dict[int, str] = {}
    for name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            full = f"{name}.{pname}" if name else pname
            if selected is not None and full not in selected:
                continue
            if not p.requires_grad:
                continue
            if not isinstance(module, _SUPPORTED):
                return f"parameter {full!r} sits in an unsupported {type(module).__name__}"
            if isinstance(module, nn.Conv2d) and (
                module.padding_mode != "zeros" or isinstance(module.padding, str)
            ):
                return f"Conv2d {name!r} uses padding {module.padding!r}/{module.padding_mode}"
            if id(p) in owners:
                return f"parameter {full!r} is shared with {owners[id(p)]!r}"
            owners[id(p)] = full
    return None


def _pointwise(conv: nn.Conv2d) -> bool:
    """A 1×1 convolution without padding or groups (a per-position linear map)."""
    return tuple(conv.kernel_size) == (1, 1) and tuple(conv.padding) == (0, 0) and conv.groups == 1


# Per-sample input windows (im2col) up to this many elements go through one batched matrix
# product on CPU (:func:`_conv_weight_windows`); larger ones through the grouped convolution.
# Measured on 2 cores, B=64, per layer inside a NAS-Bench-201 kernel pass (grouped vs windows):
# 64→64 channels 8×8 6.3 vs 4.1 ms, 32→64 stride 2 4.2 vs 2.8 ms, 3→16 at 32×32 (the stem)
# 10.8 vs ~5 ms, 16→32 stride 2 3.7 vs 4.5 ms (the one loss below the bound); above it 32→32
# at 16×16 (73,728 elements) 4.7 vs 5.7 ms and 16→16 at 32×32 5.1 vs 26 ms.
WINDOWS_MAX_ELEMENTS_PER_SAMPLE = 40_000


def _windows_cheaper(conv: nn.Conv2d, inp: torch.Tensor, delta: torch.Tensor) -> bool:
    kh, kw = conv.kernel_size
    elements = delta.shape[2] * delta.shape[3] * kh * kw * inp.shape[1]
    return (
        inp.device.type == "cpu"
        and conv.groups == 1
        and elements <= WINDOWS_MAX_ELEMENTS_PER_SAMPLE
    )


def _conv_weight_windows(conv: nn.Conv2d, inp: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Per-sample weight gradients (B, C_out·K_h·K_w·C_in) of a one-group convolution as one
    batched matrix product δ_b (C_out × positions) @ windows_b (positions × K_h·K_w·C_in).

    The windows are strided views of the zero-padded input in channels-last order, copied once;
    each row holds the layer's weights in (out, kernel row, kernel column, in) order rather than
    PyTorch's (out, in, row, column), which changes no inner product and so no kernel entry.
    """
    b, c_in = inp.shape[:2]
    c_out, out_h, out_w = delta.shape[1:]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
    )
    padded = torch.nn.functional.pad(inp.permute(0, 2, 3, 1), (0, 0, pw, pw, ph, ph))
    s_b, s_h, s_w, s_c = padded.stride()
    windows = padded.as_strided(
        (b, out_h, out_w, kh, kw, c_in), (s_b, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c)
    ).reshape(b, out_h * out_w, kh * kw * c_in)
    return torch.bmm(delta.reshape(b, c_out, out_h * out_w), windows).reshape(b, -1)


def _conv_weight_per_sample(
    conv: nn.Conv2d, inp: torch.Tensor, delta: torch.Tensor
) -> torch.Tensor:
    """Per-sample weight gradients (B, P_weight) of a convolution, by the cheapest of three
    equivalent products (the order of a row's entries within the layer is free: Θ only takes
    inner products of rows)."""
    b, c_in = inp.shape[:2]
    c_out = delta.shape[1]
    if _pointwise(conv):
        # 1×1, no padding, one group: a batched matrix product over positions (2-4× faster on
        # CPU than the grouped convolution below); a stride only subsamples the input.
        s_h, s_w = conv.stride
        a = inp[:, :, ::s_h, ::s_w][:, :, : delta.shape[2], : delta.shape[3]]
        weight = torch.bmm(delta.reshape(b, c_out, -1), a.reshape(b, c_in, -1).transpose(1, 2))
        return weight.reshape(b, -1)
    if _windows_cheaper(conv, inp, delta):
        return _conv_weight_windows(conv, inp, delta)
    # One grouped backward-weight convolution: the batch becomes groups (B·G groups), so cuDNN /
    # oneDNN do the work instead of unfold + bmm.
    g = conv.groups
    weight = torch.nn.grad.conv2d_weight(
        inp.reshape(1, b * c_in, *inp.shape[2:]),
        (b * c_out, c_in // g, *conv.kernel_size),
        delta.reshape(1, b * c_out, *delta.shape[2:]),
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=b * g,
    )
    return weight.reshape(b, -1)


def _per_sample_grads(
    module: nn.Module, inp: torch.Tensor, delta: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-sample gradients (B, P_param) of the module's parameters for output gradient δ."""
    b = delta.shape[0]
    out: dict[str, torch.Tensor] = {}
    if isinstance(module, nn.Linear):
        a = inp.reshape(b, -1, inp.shape[-1])
        d = delta.reshape(b, -1, delta.shape[-1])
        out["weight"] = torch.einsum("bto,bti->boi", d, a).reshape(b, -1)
        out["bias"] = d.sum(1)
    elif isinstance(module, nn.Conv2d):
        out["weight"] = _conv_weight_per_sample(module, inp, delta)
        out["bias"] = delta.reshape(b, delta.shape[1], -1).sum(-1)
    elif isinstance(module, nn.LayerNorm):
        dims = tuple(range(inp.dim() - len(module.normalized_shape), inp.dim()))
        mean = inp.mean(dims, keepdim=True)
        var = inp.var(dims, keepdim=True, unbiased=False)
        xhat = (inp - mean) / torch.sqrt(var + module.eps)
        n = len(module.normalized_shape)
        out["weight"] = (delta * xhat).reshape(b, -1, *delta.shape[-n:]).sum(1).reshape(b, -1)
        out["bias"] = delta.reshape(b, -1, *delta.shape[-n:]).sum(1).reshape(b, -1)
    else:  # BatchNorm: ``inp`` is the normalized input x̂ recorded by the patched forward
        out["weight"] = (delta * inp).reshape(b, delta.shape[1], -1).sum(-1)
        out["bias"] = delta.reshape(b, delta.shape[1], -1).sum(-1)
    return out


def kernel_hooks(work: _Pass, layers: dict[str, torch.Tensor] | None = None) -> torch.Tensor | None:
    """Θ for a prepared pass (sum or trace kernel), or None (with a warning saying why) when the
    model holds something this implementation cannot follow; the caller then uses torch.func.
    ``layers``: filled with each module's own kernel Θ_l (module name → B×B, Σ_l Θ_l = Θ)."""
    reason = None if work.kernel != "full" else "the full kernel needs every class at once"
    if reason is None:
        reason = hooks_support(work.model, work.differentiable)
    if reason is None:
        try:
            return _kernel_hooks(work, layers)
        except HooksUnsupported as error:
            reason = str(error)
    warnings.warn(f"per-layer hooks unavailable ({reason}); using torch.func", stacklevel=4)
    return None


def _kernel_hooks(work: _Pass, layers_out: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    model, x = work.model, work.x
    b = x.shape[0]
    theta = torch.zeros(b, b, dtype=gram_dtype(x.dtype), device=x.device)
    layers: dict[nn.Module, str] = {
        m: name
        for name, m in model.named_modules()
        if isinstance(m, _SUPPORTED) and any(True for _ in m.parameters(recurse=False))
    }
    records: dict[str, tuple[torch.Tensor, int]] = {}
    calls: dict[str, int] = {}
    wanted: dict[str, list[str]] = {}
    for m, name in layers.items():
        prefix = f"{name}." if name else ""
        keep = [
            p for p, _ in m.named_parameters(recurse=False) if prefix + p in work.differentiable
        ]
        if keep:
            wanted[name] = keep

    def make_hook(module: nn.Module, name: str):
        def grad_hook(delta: torch.Tensor) -> None:
            inp, version = records[name]
            if inp._version != version:
                raise HooksUnsupported(f"the input of {name!r} was modified in place")
            started = time.perf_counter()
            with _phases.phase("per_sample_gradients"):
                grads = _per_sample_grads(module, inp, delta)
            with _phases.phase("gram"):
                target = theta if layers_out is None else layers_out[name]
                for pname in wanted[name]:
                    g = grads[pname]
                    _gram_update(target, g.reshape(b, 1, -1), "sum")
            hook_seconds[0] += time.perf_counter() - started

        def forward_hook(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            if calls[name] > 1:
                raise HooksUnsupported(f"layer {name!r} is called more than once per forward")
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                inp = normalized[name]
            else:
                inp = inputs[0].detach()
            records[name] = (inp, inp._version)
            if not isinstance(output, torch.Tensor) or not output.requires_grad:
                raise HooksUnsupported(f"the output of {name!r} does not depend on the input")
            output.register_hook(grad_hook)

        return forward_hook

    if layers_out is not None:  # in model order; a layer the output ignores keeps a zero kernel
        layers_out.update({name: torch.zeros_like(theta) for name in wanted})
    hook_seconds = [0.0]
    normalized: dict[str, torch.Tensor] = {}
    # BatchNorm with constant statistics: this batch's (bn="frozen": one fused kernel gives
    # them and x̂) or the running ones (bn="eval"); x̂ is kept for the per-sample gradients.
    source = this_batch if work.bn == "frozen" else from_buffers(work.constants)
    handles = [
        m.register_forward_hook(make_hook(m, layers[m])) for m in layers if layers[m] in wanted
    ]
    try:
        with constant_statistics(model, source, normalized.__setitem__):
            x_in = x.detach().requires_grad_(True)
            constants = {n: t.detach() for n, t in work.differentiable.items()}
            try:
                with torch.enable_grad(), _phases.phase("forward"):
                    out = work.call(constants, x_in)
            except (RuntimeError, IndexError, TypeError) as error:
                raise _forward_error(x, error) from error
            work.set_output(out)
            missing = set(wanted) - set(records)
            if missing:
                raise HooksUnsupported(f"layer {sorted(missing)[0]!r} is not called in the forward")
            n_dir = work.directions.shape[0]
            started = time.perf_counter()
            for k, v in enumerate(work.directions):
                torch.autograd.grad(
                    out, x_in, grad_outputs=v.expand_as(out), retain_graph=k + 1 < n_dir
                )
            if _phases.recording():  # backward alone: the per-layer work inside it apart
                _phases.add("backward", time.perf_counter() - started - hook_seconds[0])
    finally:
        for h in handles:
            h.remove()
    if layers_out is not None:
        theta = sum(layers_out.values())
        layers_out.update({name: t.to(x.dtype) for name, t in layers_out.items()})
    return theta.to(x.dtype)
