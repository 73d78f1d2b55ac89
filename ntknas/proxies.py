"""Training-free signals beside the NTK spectrum, from the same probe images.

* :func:`activation_codes` / :func:`naswot`: the activation-pattern expressivity of NASWOT
  (Mellor et al. 2021): the log-determinant of the Hamming-similarity kernel of the binary
  patterns that a batch switches on in the network's rectifying activations.
* :func:`krr_metrics`: kernel ridge regression with the architecture's own empirical NTK — fit on
  labeled probe images, predict held-out ones — the label-aware use of the NTK's
  kernel-regression equivalence.
* :func:`kernel_target_alignment`: how well a kernel lines up with the label kernel Y Yᵀ.
* :func:`feature_decorrelation`: how far from redundant the channels entering each rectifier
  are — the smallest eigenvalue of their correlation matrix over spatial positions (tokens),
  summed over rectifiers (the signal of MeCo, Jiang et al. 2023, on rectifier inputs).
* :func:`rectifier_signals`: NASWOT and feature decorrelation from one shared forward;
  :func:`probe_signals`: those and backward decorrelation (one forward more, of 8 images).
* :func:`backward_decorrelation`: the backward twin of feature decorrelation, an NTK signal —
  how far from redundant the channels of the gradient that the NTK's output direction sends
  back to each weight layer's output are, summed over weight layers.
* :func:`synflow`: the SynFlow baseline (Tanaka et al. 2020) as the zero-cost-proxy
  literature computes it: absolute weights, an all-ones input, double precision.
* :func:`layer_gradient_decorrelation` (``layer_lambda_min_cosine``): an NTK signal — λmin of
  each weight layer's own cosine-normalized NTK, summed over layers (on the probe images);
  ``layer_lambda_min_cosine_all`` and ``lambda_min_cosine_all``: the per-layer and whole-kernel
  signals over every image in the kernel (probe + held-out), from the same pass.

Each signal's direction and the passes it needs are declared in :mod:`ntknas.objectives`.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import types
from collections.abc import Callable, Collection, Iterator

import torch
from torch import nn

from ntknas.ntk import OutputSelector, batch_statistics, logits_of
from ntknas.objectives import BACKWARD_PROBE, computed_by, probe_signal_names
from ntknas.spectral import cosine_lambda_min
from ntknas.theory.kernel_regression import kernel_ridge

#: Activations whose input sign defines the on/off pattern.
RECTIFIERS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.GELU,
    nn.SiLU,
    nn.ELU,
    nn.Mish,
    nn.Hardswish,
)


#: Modules whose per-layer NTK enters :func:`layer_gradient_decorrelation` and whose
#: output gradient enters :func:`backward_decorrelation`: the weight layers
#: (normalization parameters only rescale and shift what these layers produce).
WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@contextlib.contextmanager
def _preserved(model: nn.Module) -> Iterator[None]:
    """Run with train mode on and restore the train/eval flags and every buffer afterwards."""
    flags = {m: m.training for m in model.modules()}
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for m, flag in flags.items():
            m.training = flag


#: BatchNorm module → the (variance, mean) of each batch it normalized in a train-mode forward,
#: one pair per call (a module may be called more than once).
BatchStatistics = dict[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]


def _rectifier_pass(
    model: nn.Module,
    x: torch.Tensor,
    record: Callable[[torch.Tensor], None] | None,
    statistics: BatchStatistics | None = None,
    output: OutputSelector = None,
) -> torch.Tensor:
    """One no-grad train-mode forward (dropout off) calling ``record`` with every rectifier's
    input, and filling ``statistics`` (if given) with each BatchNorm's batch statistics; the
    model's flags and buffers are restored. Returns the logits of that forward."""

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        record(inputs[0].detach())

    def remember(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        mean, var = batch_statistics(inputs[0])  # the engine's fused reduction (bn="frozen")
        statistics.setdefault(module, []).append((var, mean))

    handles = [
        m.register_forward_pre_hook(hook)
        for m in model.modules()
        if record is not None and isinstance(m, RECTIFIERS)
    ]
    if statistics is not None:
        handles += [
            m.register_forward_pre_hook(remember)
            for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
    try:
        with _preserved(model), torch.no_grad():
            model.train()
            for m in model.modules():
                if isinstance(m, nn.modules.dropout._DropoutNd):
                    m.eval()
            logits = logits_of(model(x), output)
    finally:
        for h in handles:
            h.remove()
    return logits


def probe_logits(
    model: nn.Module, x: torch.Tensor, *, output: OutputSelector = None
) -> torch.Tensor:
    """The logits of the probe forward: no grad, train mode (BatchNorm on the batch's
    statistics), dropout off; the model's flags and buffers are restored.

    Example:
        >>> probe_logits(nn.Linear(3, 2), torch.ones(4, 3)).shape
        torch.Size([4, 2])
    """
    return _rectifier_pass(model, x, None, output=output)


def activation_codes(
    model: nn.Module, x: torch.Tensor, *, output: OutputSelector = None
) -> torch.Tensor:
    """Binary activation patterns (B, units): 1 where a rectifier's input is positive.

    One no-grad forward in train mode (BatchNorm on batch statistics, as in the NTK's
    ``bn="frozen"``); the model's flags and running statistics are restored. Dropout is
    disabled for the pass.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> activation_codes(net, torch.randn(5, 4)).shape
        torch.Size([5, 8])
    """
    codes: list[torch.Tensor] = []
    _rectifier_pass(
        model, x, lambda u: codes.append((u > 0).reshape(u.shape[0], -1)), output=output
    )
    if not codes:
        return torch.zeros(x.shape[0], 0, dtype=torch.bool, device=x.device)
    return torch.cat([c.to(x.device) for c in codes], dim=1)


def _add_agreement(total: torch.Tensor, u: torch.Tensor) -> None:
    """total += one rectifier's agreements (units + s sᵀ) / 2, s = ±1 its sign pattern."""
    signs = (u.reshape(u.shape[0], -1) > 0).to(torch.float32) * 2 - 1
    gram = signs @ signs.T  # exact: |entries| <= units < 2**24 per layer
    total.add_((gram.to(torch.float64) + signs.shape[1]) / 2)


def activation_agreement(
    model: nn.Module, x: torch.Tensor, *, output: OutputSelector = None
) -> torch.Tensor:
    """NASWOT's Hamming-similarity kernel K_H (B, B), float64, accumulated rectifier by rectifier.

    Equal to ``c cᵀ + (1−c)(1−c)ᵀ`` of :func:`activation_codes` but never holds the
    (B, units) pattern matrix: each rectifier adds ``(units_l + s_l s_lᵀ) / 2`` with
    s_l = ±1 its sign pattern, so memory is one layer's activations.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> x = torch.randn(5, 4)
        >>> c = activation_codes(net, x).double()
        >>> torch.allclose(activation_agreement(net, x), c @ c.T + (1 - c) @ (1 - c).T)
        True
    """
    b = x.shape[0]
    total = torch.zeros(b, b, dtype=torch.float64, device=x.device)

    _rectifier_pass(model, x, lambda u: _add_agreement(total, u), output=output)
    return total


def _observations(u: torch.Tensor, samples: int) -> torch.Tensor:
    """(S, features, observations) of one layer's tensor: (B, C, *spatial) feature maps give C
    channels over the positions of each of the first ``samples`` images, (B, N, D) tokens D
    features over the N tokens, (B, D) D features over the whole batch (S = 1)."""
    if u.dim() == 2:
        return u.T.unsqueeze(0)  # (1, D, B)
    if u.dim() == 3:
        return u[:samples].transpose(1, 2)  # (S, D, N)
    return u[:samples].reshape(min(samples, u.shape[0]), u.shape[1], -1)  # (S, C, HW)


def _mean_min_correlation_eig(feats: torch.Tensor) -> float:
    """Mean over the leading dimensions of λmin of the Pearson correlation of ``feats``'
    second-to-last dimension over its last, in float64; constant rows count as uncorrelated
    (zero rows and columns: λmin = 0), and λmin within rounding of 0 counts as 0."""
    feats = feats.to(torch.float64)
    centered = feats - feats.mean(dim=-1, keepdim=True)
    norms = centered.norm(dim=-1, keepdim=True)
    unit = torch.where(norms > 0, centered / norms.clamp_min(1e-300), torch.zeros_like(centered))
    # The small eigenproblems go to the host: on a GPU each batched float64 eigvalsh is a
    # solver launch plus a wait (30 % of a scored NB201 cell on an H200), on the host ~µs.
    corr = (unit @ unit.transpose(-1, -2)).cpu()
    smallest = torch.linalg.eigvalsh(corr)[..., 0]
    # Linearly dependent rows have λmin = 0 exactly; in float64 it comes out as rounding noise
    # of either sign (|λ| ≲ D·ε). Count that as 0, so dependence always scores 0.
    tolerance = corr.shape[-1] * 64 * torch.finfo(torch.float64).eps
    return float(torch.where(smallest > tolerance, smallest, 0.0).mean())


def _channel_correlation_min_eig(u: torch.Tensor, samples: int) -> float:
    """Mean over the first ``samples`` images of λmin of the channel correlation matrix
    (:func:`_observations` says over what each layer shape is correlated)."""
    feats = _observations(u, samples)
    if feats.shape[1] < 2 or feats.shape[2] < 2:
        return 0.0
    if feats.shape[1] >= feats.shape[2]:
        # C channels centred over N positions have rank <= N - 1 < C: λmin is exactly 0, and
        # eigendecomposing the C×C matrix to find that out is where the time went (up to 94 s
        # for one wide MobileNet-like network)
        return 0.0
    return _mean_min_correlation_eig(feats)


def _forward_signals() -> set[str]:
    """The signals of the probe forward (declared in :mod:`ntknas.objectives`)."""
    return set(probe_signal_names()) - set(computed_by(BACKWARD_PROBE))


def _backward_signals() -> set[str]:
    """The signals of the backward probe (declared in :mod:`ntknas.objectives`)."""
    return set(computed_by(BACKWARD_PROBE))


#: Channels per group of the group-decorrelation signals, and the most groups read per layer.
GROUP_CHANNELS = 8
MAX_GROUPS = 16


def _group_correlation_min_eig(u: torch.Tensor, samples: int, layer: int) -> float:
    """Mean λmin of the Pearson correlation of random groups of :data:`GROUP_CHANNELS` channels.

    Defined for any ratio of channels to positions: a group has fewer channels than the
    observations it is correlated over, so λmin is 0 only when a group's channels are truly
    linearly dependent (redundant or constant), never by rank alone. ``u``: (B, C, *spatial)
    feature maps (channels over the positions of each of the first ``samples`` images), (B, N, D)
    tokens (D features over the N tokens) or (B, D) (features over the batch). With fewer
    positions than a group has channels plus one, the first ``samples`` images' positions are
    pooled. Channels are split into groups by a permutation seeded by ``layer`` (the layer's
    position in the pass), so the signal is deterministic; at most :data:`MAX_GROUPS` groups.
    """
    feats = _observations(u, samples)
    channels = feats.shape[1]
    if feats.shape[2] <= GROUP_CHANNELS and feats.shape[0] > 1:
        feats = feats.transpose(0, 1).reshape(1, channels, -1)  # pool the images' positions
    group = min(GROUP_CHANNELS, channels, feats.shape[2] - 1)
    if group < 2:
        return 0.0
    generator = torch.Generator().manual_seed(layer)
    order = torch.randperm(channels, generator=generator)
    groups = min(MAX_GROUPS, channels // group)
    index = order[: groups * group].reshape(groups, group).to(feats.device)
    return _mean_min_correlation_eig(feats[:, index])  # (S, G, k, P)


def rectifier_signals(
    model: nn.Module,
    x: torch.Tensor,
    samples: int = 8,
    *,
    statistics: BatchStatistics | None = None,
    output: OutputSelector = None,
    keep_logits: list[torch.Tensor] | None = None,
    signals: Collection[str] | None = None,
) -> dict[str, float]:
    """``naswot`` and the feature decorrelations from one no-grad train-mode forward.

    Args:
        model: the network (flags and buffers are restored afterwards).
        x: the probe batch.
        samples: images whose channel correlations are averaged (feature decorrelation).
        statistics: filled with each BatchNorm's batch statistics in that forward, if given.
        keep_logits: the forward's logits are appended to it, if given (the scorer checks
            them for input independence without a forward of its own).
        signals: the names to compute (None: all three); the others are left out.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> sorted(rectifier_signals(net, torch.randn(5, 4)))
        ['feature_decorrelation', 'feature_group_decorrelation', 'naswot']
    """
    produced = _forward_signals()
    wanted = produced if signals is None else set(signals) & produced
    b = x.shape[0]
    agreement = torch.zeros(b, b, dtype=torch.float64, device=x.device)
    decorrelation = [0.0, 0.0]
    layers = [0]

    def record(u: torch.Tensor) -> None:
        if "naswot" in wanted:
            _add_agreement(agreement, u)
        if "feature_decorrelation" in wanted:
            decorrelation[0] += _channel_correlation_min_eig(u, samples)
        if "feature_group_decorrelation" in wanted:
            decorrelation[1] += _group_correlation_min_eig(u, samples, layers[0])
        layers[0] += 1

    logits = _rectifier_pass(model, x, record, statistics, output)
    if keep_logits is not None:
        keep_logits.append(logits)
    values = {
        "naswot": naswot_from_kernel(agreement) if "naswot" in wanted else 0.0,
        "feature_decorrelation": decorrelation[0],
        "feature_group_decorrelation": decorrelation[1],
    }
    return {name: value for name, value in values.items() if name in wanted}


def feature_decorrelation(
    model: nn.Module, x: torch.Tensor, samples: int = 8, *, output: OutputSelector = None
) -> float:
    """Σ over rectifiers of λmin of the correlation matrix of the channels entering it.

    For each rectifying activation, the feature map of each of the first ``samples`` probe images
    is read as C channels observed at H·W positions (tokens: D features over N tokens); the
    smallest eigenvalue of their C×C Pearson correlation matrix is 0 when some channel is a linear
    combination of others (redundant or constant channels) and grows as channels carry
    independent information. The mean over images is summed over rectifiers, so deeper networks
    with well-spread features score higher. This is MeCo's signal (Jiang et al., NeurIPS 2023),
    measured on rectifier inputs in train mode (BatchNorm on batch statistics), in float64.

    Example:
        >>> conv = nn.Sequential(
        ...     nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten()
        ... )
        >>> 0.0 < feature_decorrelation(conv, torch.randn(2, 3, 8, 8)) <= 2.0
        True
    """
    return rectifier_signals(model, x, samples, output=output)["feature_decorrelation"]


@contextlib.contextmanager
def _constant_batch_statistics(model: nn.Module, statistics: BatchStatistics) -> Iterator[None]:
    """BatchNorm normalizes with recorded batch statistics used as constants (the NTK engine's
    ``bn="frozen"``: the forward of train mode on the whole batch, no gradient through the
    statistics), so any subset of the batch can be run alone; the k-th call of a module uses
    the statistics of its k-th call in the recorded forward."""
    calls: dict[nn.Module, int] = {}

    def forward(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
        k = calls.get(self, 0)
        calls[self] = k + 1
        var, mean = statistics[self][k]
        return nn.functional.batch_norm(
            x, mean, var, self.weight, self.bias, training=False, momentum=0.0, eps=self.eps
        )

    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.forward = types.MethodType(forward, m)
    try:
        yield
    finally:
        for m in norms:
            del m.forward


def backward_decorrelation(
    model: nn.Module,
    x: torch.Tensor,
    *,
    bn: str = "frozen",
    samples: int = 8,
    statistics: BatchStatistics | None = None,
    output: OutputSelector = None,
) -> float:
    """Σ over weight layers of λmin of the channel correlation of the gradient at the layer's output.

    Per weight layer l (Conv/Linear) the sum-kernel NTK is built from two factors: the layer's
    input a_i and the gradient δ_i = ∂(Σ_c f_c(x_i))/∂z_i that the NTK's output direction sends
    back to the layer's output z_i; each per-sample weight gradient is δ_i ⊗ a_i summed over
    positions. Feature decorrelation (MeCo) measures how far from redundant the *forward* factor's
    channels are; this measures the *backward* factor: for each of the first ``samples`` images,
    λmin of the Pearson correlation matrix of δ_i's C channels over the positions (tokens: D
    features over the N tokens), 0 when some channel's gradient is a linear combination of
    others' (redundant or dead), averaged over the images and summed over layers. Constant
    channels count as zero correlation; outputs without positions or tokens ((B, D), e.g. a
    classifier's) contribute 0.

    BatchNorm as in the NTK engine's ``bn`` mode: ``"frozen"``: the batch statistics of all of
    ``x`` used as constants (samples are then independent, so only the first ``samples`` images
    are run forward and backward; ``statistics`` recorded in an earlier train-mode forward of
    ``x``, as :func:`probe_signals` does, saves the forward that records them); ``"eval"``: the
    running statistics; ``"batch"``: train mode on all of ``x`` with gradients through the
    batch statistics (δ_i then also carries the other images' outputs). The backward goes to the input
    only (no weight gradients); dropout is off; the model's flags, buffers and gradients are
    unchanged afterwards.

    Example:
        >>> conv = nn.Sequential(
        ...     nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten(), nn.Linear(64, 2)
        ... )
        >>> 0.0 < backward_decorrelation(conv, torch.randn(2, 3, 8, 8)) <= 2.0
        True
    """
    only = ("backward_decorrelation",)
    signals = backward_signals(
        model, x, bn=bn, samples=samples, statistics=statistics, output=output, signals=only
    )
    return signals["backward_decorrelation"]


def backward_signals(
    model: nn.Module,
    x: torch.Tensor,
    *,
    bn: str = "frozen",
    samples: int = 8,
    statistics: BatchStatistics | None = None,
    output: OutputSelector = None,
    signals: Collection[str] | None = None,
) -> dict[str, float]:
    """``backward_decorrelation`` and ``backward_group_decorrelation`` from one backward.

    The first is :func:`backward_decorrelation`; the second reads the same gradients δ_i at every
    weight layer's output through random groups of 8 channels (:func:`_group_correlation_min_eig`),
    so it is defined for any ratio of channels to positions (a layer with at least as many
    channels as positions reads exactly 0 in the first, by rank alone), and (B, D) outputs are
    read over the samples. Arguments as :func:`backward_decorrelation`; ``signals``: the names
    to compute (None: both).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 2))
        >>> sorted(backward_signals(net, torch.randn(4, 3, 4, 4)))
        ['backward_decorrelation', 'backward_group_decorrelation']
    """
    if bn not in ("frozen", "eval", "batch"):
        raise ValueError(f"unknown bn mode {bn!r}; allowed: frozen, eval, batch")
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    produced = _backward_signals()
    wanted = produced if signals is None else set(signals) & produced
    total = [0.0, 0.0]
    layers = [0]

    def record(delta: torch.Tensor) -> None:
        delta = delta.detach()
        if delta.dim() >= 3 and "backward_decorrelation" in wanted:
            total[0] += _channel_correlation_min_eig(delta, samples)
        if "backward_group_decorrelation" in wanted:
            total[1] += _group_correlation_min_eig(delta, samples, layers[0])
        layers[0] += 1

    def attach(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(record)  # fires with ∂/∂output even if later changed in place

    if bn == "frozen":
        if statistics is None:
            statistics = {}
            _rectifier_pass(model, x, lambda _u: None, statistics, output)
        normalization = _constant_batch_statistics(model, statistics)
        x = x[:samples]
    else:
        normalization = contextlib.nullcontext()
        x = x if bn == "batch" else x[:samples]
    handles = [
        m.register_forward_hook(attach) for m in model.modules() if isinstance(m, WEIGHT_LAYERS)
    ]
    try:
        with _preserved(model), normalization, torch.enable_grad():
            model.train(bn != "eval")
            for m in model.modules():
                if isinstance(m, nn.modules.dropout._DropoutNd):
                    m.eval()
            x_in = x.detach().requires_grad_(True)
            out = logits_of(model(x_in), output)
            torch.autograd.grad(out.sum(), x_in)
    finally:
        for h in handles:
            h.remove()
    values = {"backward_decorrelation": total[0], "backward_group_decorrelation": total[1]}
    return {name: value for name, value in values.items() if name in wanted}


def probe_signals(
    model: nn.Module,
    x: torch.Tensor,
    *,
    bn: str = "frozen",
    samples: int = 8,
    seconds: dict[str, float] | None = None,
    output: OutputSelector = None,
    keep_logits: list[torch.Tensor] | None = None,
    signals: Collection[str] | None = None,
) -> dict[str, float]:
    """``naswot``, the feature and the backward decorrelations of one probe batch.

    One no-grad train-mode forward of ``x`` gives the first two (:func:`rectifier_signals`) and
    the BatchNorm statistics that :func:`backward_decorrelation` (``bn="frozen"``) then uses for
    a forward and backward of the first ``samples`` images only. ``seconds``: filled with the
    time of each part (``naswot``: the forward; ``backward_decorrelation``). ``signals``: the
    names to compute (None: all five); the backward runs only when a backward signal is asked.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())
        >>> sorted(probe_signals(net, torch.randn(5, 3, 6, 6)))  # doctest: +NORMALIZE_WHITESPACE
        ['backward_decorrelation', 'backward_group_decorrelation', 'feature_decorrelation',
         'feature_group_decorrelation', 'naswot']
    """
    started = time.perf_counter()
    statistics: BatchStatistics = {}
    wanted = set(probe_signal_names()) if signals is None else set(signals)
    values = rectifier_signals(
        model,
        x,
        samples,
        statistics=statistics,
        output=output,
        keep_logits=keep_logits,
        signals=wanted,
    )
    middle = time.perf_counter()
    if wanted & _backward_signals():
        values.update(
            backward_signals(
                model,
                x,
                bn=bn,
                samples=samples,
                statistics=statistics,
                output=output,
                signals=wanted,
            )
        )
    if seconds is not None:
        seconds["naswot"] = middle - started
        seconds["backward_decorrelation"] = time.perf_counter() - middle
    return values


def naswot_from_kernel(k: torch.Tensor) -> float:
    """log|K_H| of an agreement kernel; ``-inf`` when singular."""
    sign, logdet = torch.linalg.slogdet(k.detach().to("cpu", torch.float64))
    return float(logdet) if float(sign) > 0 else -math.inf


def naswot(codes: torch.Tensor) -> float:
    """log|K_H| where K_H[i, j] = units on which patterns i and j agree (NASWOT's score).

    Identical patterns make K_H singular: the result is then ``-inf`` (the architecture cannot
    tell those probe images apart).

    Example:
        >>> naswot(torch.tensor([[1, 0], [0, 1]], dtype=torch.bool))
        1.3862943611198906
    """
    units = codes.shape[1]
    signs = codes.to(torch.float32) * 2 - 1  # agreements = (units + s·s') / 2, exact below 2**24
    if units >= 1 << 24:
        signs = signs.to(torch.float64)
    k = ((signs @ signs.T).to(torch.float64) + units) / 2
    sign, logdet = torch.linalg.slogdet(k.cpu())
    return float(logdet) if float(sign) > 0 else -math.inf


def one_hot_targets(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Centered one-hot targets: 1 − 1/C for the class, −1/C elsewhere."""
    y = torch.nn.functional.one_hot(labels.long().cpu(), num_classes).to(torch.float64)
    return y - 1.0 / num_classes


def krr_metrics(
    kernel: torch.Tensor,
    labels: torch.Tensor,
    n_fit: int,
    *,
    num_classes: int | None = None,
    ridge: float = 1e-2,
) -> dict[str, float]:
    """Kernel ridge regression with an empirical NTK: fit the first ``n_fit`` probe images,
    predict the rest.

    The kernel is the (n_fit + n_held)² Gram matrix of one scalar-output NTK (the sum kernel),
    used for every class as in the infinite-width limit (Θ ⊗ I_C). Targets are centered one-hot
    vectors, ``ridge`` is relative to the mean eigenvalue of the fit block (so kernels of any
    scale are treated alike).

    Returns:
        ``krr_accuracy`` (held-out top-1, higher is better) and ``krr_loss`` (held-out mean
        squared error per image, lower is better); NaN when the kernel has non-finite entries.

    Example:
        >>> x = torch.randn(12, 5, dtype=torch.float64)
        >>> labels = torch.tensor([0, 1] * 6)
        >>> sorted(krr_metrics(x @ x.T, labels, 8))
        ['krr_accuracy', 'krr_loss']
    """
    K = kernel.detach().to("cpu", torch.float64)
    n = K.shape[0]
    if not 0 < n_fit < n:
        raise ValueError(f"n_fit must be in [1, {n - 1}] for a {n}x{n} kernel, got {n_fit}")
    if not torch.isfinite(K).all():
        return {"krr_accuracy": float("nan"), "krr_loss": float("nan")}
    classes = num_classes or int(labels.max()) + 1
    y = one_hot_targets(labels, classes)
    pred = kernel_ridge(K[:n_fit, :n_fit], y[:n_fit], K[n_fit:, :n_fit], ridge=ridge)
    held = labels[n_fit:].cpu()
    accuracy = float((pred.argmax(dim=1) == held).to(torch.float64).mean())
    loss = float(((pred - y[n_fit:]) ** 2).sum(dim=1).mean())
    return {"krr_accuracy": accuracy, "krr_loss": loss}


def kernel_target_alignment(
    kernel: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None
) -> float:
    """<K, Y Yᵀ>_F / (‖K‖_F ‖Y Yᵀ‖_F) with centered one-hot Y (Cristianini et al. 2002).

    Example:
        >>> labels = torch.tensor([0, 0, 1, 1])
        >>> y = one_hot_targets(labels, 2)
        >>> round(kernel_target_alignment(y @ y.T, labels), 6)
        1.0
    """
    K = kernel.detach().to("cpu", torch.float64)
    y = one_hot_targets(labels, num_classes or int(labels.max()) + 1)
    target = y @ y.T
    denominator = torch.linalg.norm(K) * torch.linalg.norm(target)
    return float((K * target).sum() / denominator) if denominator > 0 else float("nan")


def layer_gradient_decorrelation(
    layers: dict[str, torch.Tensor], model: nn.Module, size: int | None = None
) -> float:
    """Σ over weight layers of λmin of the layer's cosine-normalized NTK (``layer_lambda_min_cosine``).

    Θ = Σ_l Θ_l: each weight layer's own NTK Θ_l = J_l J_lᵀ (:func:`ntknas.layerwise_ntk`) is
    normalized to unit diagonal, so it measures only how far the per-sample gradients *of that
    layer* are from linear dependence (1: orthogonal, 0: dependent or dead), and these are
    summed over layers, as ZiCo and MeCo sum their per-layer statistics. The whole-network
    kernel mixes the layers and is dominated by the ones with the largest gradients; per layer,
    every layer that separates the probe images counts. ``size``: use the leading ``size`` ×
    ``size`` block (the probe images, when held-out images were appended).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> layers = {"0": torch.eye(3), "2": torch.ones(3, 3)}
        >>> layer_gradient_decorrelation(layers, net)
        1.0
    """
    modules = dict(model.named_modules())
    blocks = [
        kernel if size is None else kernel[:size, :size]
        for name, kernel in layers.items()
        if isinstance(modules.get(name), WEIGHT_LAYERS)
    ]
    if not blocks:
        return 0.0
    return float(cosine_lambda_min(torch.stack(blocks)).sum())


#: ``synflow`` of a network in which no path carries the input to the output (log 0): the log of
#: the smallest positive double, so such networks rank below every other and stay finite.
SYNFLOW_OF_ZERO = -745.0


def synflow(
    model: nn.Module, input_shape: tuple[int, ...], *, output: OutputSelector = None
) -> float:
    """log of SynFlow (Tanaka et al. 2020), the zero-cost-proxy baseline: Σ_θ |θ · ∂R/∂θ| with
    R = Σ of the logits of a copy of the network whose weights are replaced by their absolute
    values, in double precision, on one all-ones input of ``input_shape``.

    BatchNorm uses its running statistics (at initialization mean 0 and variance 1: the identity
    up to 1/√(1+ε)), as the published proxy removes BatchNorm: one constant input has no batch
    statistics. Dropout is off. The caller's model is not changed. A network in which no path
    carries the input to the output scores :data:`SYNFLOW_OF_ZERO`. ``output``: where the
    logits are in a tuple output (:func:`ntknas.ntk.logits_of`).

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Linear(4, 2, bias=False))
        >>> with torch.no_grad():
        ...     _ = net[0].weight.fill_(0.5), net[1].weight.fill_(-1.0)
        >>> round(math.exp(synflow(net, (3,))), 6)  # 2 · (12 paths of 0.5 · 1), once per layer
        24.0
    """
    net = copy.deepcopy(model).double().eval()
    params = [p for p in net.parameters() if p.requires_grad]
    with torch.no_grad():
        for p in params:
            p.abs_()
    device = params[0].device if params else torch.device("cpu")
    with torch.enable_grad():
        out = logits_of(
            net(torch.ones(1, *input_shape, dtype=torch.float64, device=device)), output
        )
        grads = torch.autograd.grad(out.sum(), params, allow_unused=True)
    total = sum(float((p.detach() * g).abs().sum()) for p, g in zip(params, grads) if g is not None)
    return math.log(total) if total > 0 else SYNFLOW_OF_ZERO
