"""Channel decorrelation of the two factors of each layer's NTK: the features entering the
rectifiers (MeCo's signal) and the gradient the NTK's output direction sends back to each weight
layer, over all channels or over random groups of 8 (defined for any width); and the probe pass
that computes them with NASWOT."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Collection
from typing import NamedTuple

import torch
from torch import nn

from ntknas.ntk import OutputSelector, constant_statistics, from_recorded, logits_of
from ntknas.objectives import BACKWARD_PROBE, computed_by, probe_signal_names
from ntknas.proxies._pass import (
    WEIGHT_LAYERS,
    BatchStatistics,
    _preserved,
    _rectifier_pass,
    channels_last_pass,
)
from ntknas.proxies.activation import _add_agreement, naswot_from_kernel
from ntknas.proxies.dimension import effective_dimension


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
    # The Gram matrix of the centred rows, normalized afterwards (k×k): the same correlation as
    # normalizing each row first, without a division over every observation (that was ~40 % of
    # the group signals' time on CPU).
    gram = centered @ centered.transpose(-1, -2)
    scale = gram.diagonal(dim1=-2, dim2=-1).sqrt()
    inverse = torch.where(scale > 0, 1.0 / scale, torch.zeros_like(scale))
    # The small eigenproblems go to the host: on a GPU each batched float64 eigvalsh is a
    # solver launch plus a wait (30 % of a scored NB201 cell on an H200), on the host ~µs.
    corr = (gram * inverse.unsqueeze(-1) * inverse.unsqueeze(-2)).cpu()
    smallest = torch.linalg.eigvalsh(corr)[..., 0]
    # Linearly dependent rows have λmin = 0 exactly; in float64 it comes out as rounding noise
    # of either sign (|λ| ≲ D·ε). Count that as 0, so dependence always scores 0.
    tolerance = corr.shape[-1] * 64 * torch.finfo(torch.float64).eps
    return float(torch.where(smallest > tolerance, smallest, 0.0).mean())


def channel_correlation_min_eig(u: torch.Tensor, samples: int) -> float:
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


def _wanted_groups(factor: str, wanted: Collection[str]) -> dict[str, GroupReading]:
    """The group signals of ``factor`` among ``wanted``: name → how they read a layer."""
    names = {_signal_name(factor, suffix): g for suffix, g in GROUP_SIZES.items()}
    return {name: group for name, group in names.items() if name in wanted}


def _forward_signals() -> set[str]:
    """The signals of the probe forward (declared in :mod:`ntknas.objectives`)."""
    return set(probe_signal_names()) - set(computed_by(BACKWARD_PROBE))


def _backward_signals() -> set[str]:
    """The signals of the backward probe (declared in :mod:`ntknas.objectives`)."""
    return set(computed_by(BACKWARD_PROBE))


#: Channels per group of the group-decorrelation signals, and the most groups read per layer.
GROUP_CHANNELS = 8


MAX_GROUPS = 16


class GroupReading(NamedTuple):
    """How a group signal reads a layer: ``size`` channels per group, at least ``headroom``
    observations per group channel (the images' positions are pooled below that), at most
    ``max_groups`` groups (None: every channel, in ⌊C / size⌋ groups); ``pooled``: always pool
    the first images' positions, each image centred on its own means (the correlation of the
    variation within images, over more observations); ``null``: λmin divided by its value for
    independent channels, (1 − √(size / observations))² (Marchenko–Pastur), so a layer's null
    reading is 1 whatever its shape; ``sum_over``: ``""`` the mean λmin of the layer's groups,
    ``"groups"`` their sum (groups × the mean: how many decorrelated groups of channels the
    layer has, so wider layers read more), ``"group_positions"`` that sum times the layer's
    positions per image (H·W, tokens; 1 for a (B, D) layer): decorrelated groups × positions."""

    size: int
    headroom: int = 1
    max_groups: int | None = MAX_GROUPS
    pooled: bool = False
    null: bool = False
    sum_over: str = ""


#: The group signals by name suffix. ``feature_group_decorrelation`` (groups of 8, at most 16
#: per layer: the default's component); the larger groups of #18's second round
#: (``feature_group16_decorrelation``, ...), which keep 4 observations per channel so that λmin
#: stays clear of the rank bound ((1 − √(1/4))² = 0.25 for independent channels); and #18's
#: third round's ``feature_group_all_decorrelation``: groups of 8 over every channel of the
#: layer (the same expectation as at most 16 groups, less variance on wide layers). The backward
#: signals alike.
GROUP_SIZES: dict[str, GroupReading] = {
    "": GroupReading(GROUP_CHANNELS),
    "16": GroupReading(16, 4),
    "32": GroupReading(32, 4),
    "_all": GroupReading(GROUP_CHANNELS, 1, None),
    # #18's fourth round: every channel, the first images' positions pooled (each image centred
    # on its own), with and without the null normalization, and larger groups pooled so.
    # Headroom ≥ 2 (at least 2 observations per group channel): with as many channels as
    # observations the independent-channel λmin is 0, and nothing can be normalized by it.
    "_pooled": GroupReading(GROUP_CHANNELS, 2, None, pooled=True),
    "_pooled_null": GroupReading(GROUP_CHANNELS, 2, None, pooled=True, null=True),
    "32_pooled_null": GroupReading(32, 4, None, pooled=True, null=True),
    "64_pooled_null": GroupReading(64, 4, None, pooled=True, null=True),
    # #18's sixth round: every channel, summed over the groups (not their mean), and summed
    # over groups and positions: decorrelation that counts width (and resolution), in place of
    # the FLOPs term.
    "_sum": GroupReading(GROUP_CHANNELS, 1, None, sum_over="groups"),
    "_sum_positions": GroupReading(GROUP_CHANNELS, 1, None, sum_over="group_positions"),
}

#: The values of :attr:`GroupReading.sum_over`.
SUM_OVER = ("", "groups", "group_positions")


def _signal_name(factor: str, suffix: str) -> str:
    """A group signal's name from its factor and its :data:`GROUP_SIZES` suffix."""
    return f"{factor}_group{suffix}_decorrelation"


def group_signal_name(
    factor: str,
    size: int,
    every_channel: bool = False,
    *,
    pooled: bool = False,
    null: bool = False,
    sum_over: str = "",
) -> str:
    """The name of a group signal: ``factor`` ``feature`` or ``backward``, ``size`` channels
    per group, ``every_channel``: groups over all of a layer's channels (not at most 16);
    ``pooled``, ``null``, ``sum_over``: as :class:`GroupReading` (all read every channel).

    Example:
        >>> group_signal_name("feature", 8), group_signal_name("backward", 32)
        ('feature_group_decorrelation', 'backward_group32_decorrelation')
        >>> group_signal_name("feature", 8, every_channel=True)
        'feature_group_all_decorrelation'
        >>> group_signal_name("backward", 64, True, pooled=True, null=True)
        'backward_group64_pooled_null_decorrelation'
        >>> group_signal_name("feature", 8, True, sum_over="groups")
        'feature_group_sum_decorrelation'
    """
    if factor in ("feature", "backward"):
        for suffix, reading in GROUP_SIZES.items():
            if (
                reading.size == size
                and (reading.max_groups is None) == every_channel
                and (reading.pooled, reading.null, reading.sum_over) == (pooled, null, sum_over)
            ):
                return _signal_name(factor, suffix)
    every = ", every channel" if every_channel else ""
    how = "".join(
        [
            ", pooled" if pooled else "",
            ", null-normalized" if null else "",
            f", summed over {sum_over}" if sum_over else "",
        ]
    )
    raise ValueError(f"no group signal for {factor!r} with groups of {size}{every}{how}")


def _group_correlation_min_eig(
    u: torch.Tensor,
    samples: int,
    layer: int,
    size: int = GROUP_CHANNELS,
    headroom: int = 1,
    max_groups: int | None = MAX_GROUPS,
    pooled: bool = False,
    null: bool = False,
    sum_over: str = "",
) -> float:
    """Mean λmin of the Pearson correlation of random groups of ``size`` channels (or, with
    ``sum_over``, its sum over the groups or over the groups and positions).

    Defined for any ratio of channels to positions: a group has fewer channels than the
    observations it is correlated over, so λmin is 0 only when a group's channels are truly
    linearly dependent (redundant or constant), never by rank alone. ``u``: (B, C, *spatial)
    feature maps (channels over the positions of each of the first ``samples`` images), (B, N, D)
    tokens (D features over the N tokens) or (B, D) (features over the batch). With fewer
    positions than a group has channels plus one, the first ``samples`` images' positions are
    pooled. Channels are split into groups by a permutation seeded by ``layer`` (the layer's
    position in the pass), so the signal is deterministic. ``size``: channels per group
    (:data:`GROUP_CHANNELS` unless given); ``headroom``: the positions are pooled when fewer
    than ``size × headroom + 1``, and a group has at most (observations − 1) / ``headroom``
    channels; ``max_groups``: the most groups read (None: ⌊C / size⌋, every channel but the
    remainder); ``pooled``: the first ``samples`` images' positions always pooled, each image
    centred on its own means first (observations: S · (positions − 1)); ``null``: the mean λmin
    divided by (1 − √(k / observations))², its value for k independent channels; ``sum_over``:
    ``"groups"`` the mean times the groups read, ``"group_positions"`` that times the
    positions per image (:class:`GroupReading`).
    """
    if sum_over not in SUM_OVER:
        raise ValueError(
            f"unknown sum_over {sum_over!r}; allowed: {', '.join(map(repr, SUM_OVER))}"
        )
    reading = GroupReading(size, headroom, max_groups, pooled, null, sum_over)
    return _group_readings(u, samples, layer, {"": reading})[""]


def _positions(u: torch.Tensor) -> int:
    """Positions per image of a layer's tensor: H·W of (B, C, *spatial), N of (B, N, D) tokens,
    1 for (B, D)."""
    return math.prod(u.shape[2:]) if u.dim() >= 4 else (u.shape[1] if u.dim() == 3 else 1)


def _group_mean_min_eig(
    u: torch.Tensor,
    samples: int,
    layer: int,
    size: int,
    headroom: int,
    max_groups: int | None,
    pooled: bool,
    null: bool,
) -> tuple[float, int]:
    """:func:`_group_correlation_min_eig`'s mean over the groups, and how many groups it read
    (0 where no group can be formed)."""
    feats = _observations(u, samples)
    channels = feats.shape[1]
    if pooled:
        feats = feats.to(torch.float64)
        feats = feats - feats.mean(dim=-1, keepdim=True)  # each image on its own means
        observations = feats.shape[0] * (feats.shape[2] - 1)
        feats = feats.transpose(0, 1).reshape(1, channels, -1)
    else:
        if feats.shape[2] <= size * headroom and feats.shape[0] > 1:
            feats = feats.transpose(0, 1).reshape(1, channels, -1)  # pool the images' positions
        observations = feats.shape[2] - 1
    group = min(size, channels, observations // headroom)
    if group < 2:
        return 0.0, 0
    generator = torch.Generator().manual_seed(layer)
    order = torch.randperm(channels, generator=generator)
    groups = channels // group if max_groups is None else min(max_groups, channels // group)
    index = order[: groups * group].reshape(groups, group).to(feats.device)
    smallest = _mean_min_correlation_eig(feats[:, index])  # (S, G, k, P)
    if null:
        smallest /= (1.0 - math.sqrt(group / observations)) ** 2
    return smallest, groups


def _group_readings(
    u: torch.Tensor, samples: int, layer: int, readings: dict[str, GroupReading]
) -> dict[str, float]:
    """Each of ``readings`` (name → reading) of one layer; readings that differ only in
    ``sum_over`` share one eigendecomposition of their groups."""
    means: dict[GroupReading, tuple[float, int]] = {}
    values = {}
    for name, reading in readings.items():
        base = reading._replace(sum_over="")
        if base not in means:
            means[base] = _group_mean_min_eig(u, samples, layer, *base[:5])
        mean, groups = means[base]
        scale = {"": 1, "groups": groups, "group_positions": groups * _positions(u)}
        values[name] = mean * scale[reading.sum_over]
    return values


def feature_group_decorrelations(
    model: nn.Module,
    x: torch.Tensor,
    groups: Collection[tuple[int, ...]],
    samples: int = 8,
    *,
    output: OutputSelector = None,
) -> dict[tuple[int, ...], float]:
    """The forward group signal for several settings at once: (channels per group, headroom)
    or (channels per group, headroom, most groups per layer) (:class:`GroupReading`).

    One no-grad train-mode forward, as :func:`rectifier_signals`; for each setting, Σ over
    rectifiers of the mean λmin of random channel groups (:func:`_group_correlation_min_eig`).
    ``(8, 1)`` is ``feature_group_decorrelation``, ``(32, 4)`` ``feature_group32_decorrelation``;
    other settings are for studies of the signal (``experiments/group_pooling_diagnostic.py``).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Flatten())
        >>> x = torch.randn(8, 3, 10, 10)
        >>> both = feature_group_decorrelations(net, x, [(8, 1), (16, 4)])
        >>> both[8, 1] == rectifier_signals(net, x)["feature_group_decorrelation"]
        True
    """
    totals = dict.fromkeys(groups, 0.0)
    layers = [0]

    def record(u: torch.Tensor) -> None:
        for setting in totals:
            totals[setting] += _group_correlation_min_eig(u, samples, layers[0], *setting)
        layers[0] += 1

    _rectifier_pass(model, x, record, None, output)
    return totals


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
        signals: the names to compute (None: all of them); the others are left out.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> sorted(rectifier_signals(net, torch.randn(5, 4)))  # doctest: +NORMALIZE_WHITESPACE
        ['feature_decorrelation', 'feature_effective_dimension', 'feature_group16_decorrelation',
         'feature_group32_decorrelation', 'feature_group32_pooled_null_decorrelation',
         'feature_group64_pooled_null_decorrelation',
         'feature_group_all_decorrelation', 'feature_group_decorrelation',
         'feature_group_pooled_decorrelation', 'feature_group_pooled_null_decorrelation',
         'feature_group_sum_decorrelation', 'feature_group_sum_positions_decorrelation', 'naswot']
    """
    produced = _forward_signals()
    wanted = produced if signals is None else set(signals) & produced
    b = x.shape[0]
    agreement = torch.zeros(b, b, dtype=torch.float64, device=x.device)
    groups = _wanted_groups("feature", wanted)
    totals = dict.fromkeys(["feature_decorrelation", "feature_effective_dimension", *groups], 0.0)
    layers = [0]

    def record(u: torch.Tensor) -> None:
        if "naswot" in wanted:
            _add_agreement(agreement, u)
        if "feature_decorrelation" in wanted:
            totals["feature_decorrelation"] += channel_correlation_min_eig(u, samples)
        if "feature_effective_dimension" in wanted:
            totals["feature_effective_dimension"] += effective_dimension(u, samples)
        for name, value in _group_readings(u, samples, layers[0], groups).items():
            totals[name] += value
        layers[0] += 1

    logits = _rectifier_pass(model, x, record, statistics, output)
    if keep_logits is not None:
        keep_logits.append(logits)
    values = {"naswot": naswot_from_kernel(agreement) if "naswot" in wanted else 0.0, **totals}
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
    """``backward_decorrelation`` and the backward group signals from one backward.

    The first is :func:`backward_decorrelation`; the second reads the same gradients δ_i at every
    weight layer's output through random groups of 8 channels (:func:`_group_correlation_min_eig`),
    so it is defined for any ratio of channels to positions (a layer with at least as many
    channels as positions reads exactly 0 in the first, by rank alone), and (B, D) outputs are
    read over the samples (``backward_group16_decorrelation``, ``..._group32_...``: groups of 16,
    32). Arguments as :func:`backward_decorrelation`; ``signals``: the names to compute (None:
    all).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 2))
        >>> sorted(backward_signals(net, torch.randn(4, 3, 4, 4)))  # doctest: +NORMALIZE_WHITESPACE
        ['backward_decorrelation', 'backward_effective_dimension', 'backward_group16_decorrelation',
         'backward_group32_decorrelation', 'backward_group32_pooled_null_decorrelation',
         'backward_group64_pooled_null_decorrelation', 'backward_group_all_decorrelation',
         'backward_group_decorrelation', 'backward_group_pooled_decorrelation',
         'backward_group_pooled_null_decorrelation', 'backward_group_sum_decorrelation',
         'backward_group_sum_positions_decorrelation']
    """
    if bn not in ("frozen", "eval", "batch"):
        raise ValueError(f"unknown bn mode {bn!r}; allowed: frozen, eval, batch")
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    produced = _backward_signals()
    wanted = produced if signals is None else set(signals) & produced
    groups = _wanted_groups("backward", wanted)
    totals = dict.fromkeys(["backward_decorrelation", "backward_effective_dimension", *groups], 0.0)
    layers = [0]

    def record(delta: torch.Tensor) -> None:
        delta = delta.detach()
        if delta.dim() >= 3 and "backward_decorrelation" in wanted:
            totals["backward_decorrelation"] += channel_correlation_min_eig(delta, samples)
        if "backward_effective_dimension" in wanted:
            totals["backward_effective_dimension"] += effective_dimension(delta, samples)
        for name, value in _group_readings(delta, samples, layers[0], groups).items():
            totals[name] += value
        layers[0] += 1

    def attach(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(record)  # fires with ∂/∂output even if later changed in place

    if bn == "frozen":
        if statistics is None:
            statistics = {}
            _rectifier_pass(model, x, lambda _u: None, statistics, output)
        normalization = constant_statistics(model, from_recorded(statistics))
        x = x[:samples]
    else:
        normalization = contextlib.nullcontext()
        x = x if bn == "batch" else x[:samples]
    handles = [
        m.register_forward_hook(attach) for m in model.modules() if isinstance(m, WEIGHT_LAYERS)
    ]
    try:
        with _preserved(model, batchnorm_train=bn != "eval"), normalization, torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            out = logits_of(model(x_in), output)
            torch.autograd.grad(out.sum(), x_in)
    finally:
        for h in handles:
            h.remove()
    return {name: value for name, value in totals.items() if name in wanted}


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
    channels_last: bool = False,
) -> dict[str, float]:
    """``naswot``, the feature and the backward decorrelations of one probe batch.

    One no-grad train-mode forward of ``x`` gives the first two (:func:`rectifier_signals`) and
    the BatchNorm statistics that :func:`backward_decorrelation` (``bn="frozen"``) then uses for
    a forward and backward of the first ``samples`` images only. ``seconds``: filled with the
    time of each part (``naswot``: the forward; ``backward_decorrelation``). ``signals``: the
    names to compute (None: all); the backward runs only when a backward signal is asked.
    ``channels_last``: run both passes in channels-last memory format
    (:func:`ntknas.proxies._pass.channels_last_pass`; the same signals up to float32 rounding,
    faster on CPU); the model is handed back in the contiguous format.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())
        >>> asked = ["naswot", "feature_decorrelation", "backward_group_decorrelation"]
        >>> sorted(probe_signals(net, torch.randn(5, 3, 6, 6), signals=asked))
        ['backward_group_decorrelation', 'feature_decorrelation', 'naswot']
    """
    started = time.perf_counter()
    statistics: BatchStatistics = {}
    wanted = set(probe_signal_names()) if signals is None else set(signals)
    with channels_last_pass(model, x, channels_last) as x:
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
