"""NAS-Bench-201: the exact cell space and network of Dong & Yang (ICLR 2020).

A cell has 4 nodes; node j = Σ_{i<j} op_ij(node_i) and the output is node 3. The 6 edges each take
one of 5 ops, so the space has 5⁶ = 15,625 cells. The network (C = 16, N = 5): stem → 5 cells at
16 channels → residual reduction → 5 cells at 32 → residual reduction → 5 cells at 64 → head. It
reproduces the benchmark's parameter counts, so its public accuracy tables apply.

Arch strings use the benchmark's form ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: group j lists the
edges into node j, and ``op~i`` is the edge from node i.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from search_spaces._keyvalue import check_positive_int, check_unknown_options
from search_spaces._registry import register_search_space
from search_spaces.base import ArchSpec, SearchSpace

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The 6 edges (source node, target node), in the order of the arch string.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


class ReLUConvBN(nn.Sequential):
    """ReLU → Conv2d(bias=False) → BatchNorm2d, the benchmark's ``nor_conv`` op."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """The ``none`` op: x · 0 (keeps the graph connected to the input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class AvgPool3x3(nn.AvgPool2d):
    """The benchmark's ``avg_pool_3x3``: 3×3 mean, stride 1, padding 1, padding not counted.

    The same module as ``nn.AvgPool2d(3, 1, 1, count_include_pad=False)``; on CPU it computes
    the mean as two 3-tap sums of shifted views divided by the count of real pixels, because
    PyTorch's NCHW CPU pooling kernels are slow here (forward ~2.5x, forward + backward ~1.5x
    slower on 64×16×32×32 inputs, 2 cores). Equal to ``avg_pool2d`` up to float rounding.
    """

    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dim() != 4:
            return super().forward(x)
        h, w = x.shape[-2:]
        padded = nn.functional.pad(x, (1, 1, 1, 1))
        rows = padded[..., :, :-2] + padded[..., :, 1:-1] + padded[..., :, 2:]
        total = rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]
        return total * _inverse_counts(h, w, x.dtype)


def _inverse_counts(h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    """1 / (number of real pixels in each 3×3 window) of an h×w map with zero padding."""
    ch = torch.full((h,), 3.0, dtype=dtype)
    cw = torch.full((w,), 3.0, dtype=dtype)
    ch[0] -= 1
    ch[-1] -= 1
    cw[0] -= 1
    cw[-1] -= 1
    return 1.0 / (ch[:, None] * cw[None, :])


def make_op(name: str, channels: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    raise ValueError(f"unknown op {name!r}; allowed: {', '.join(OPS)}")


class Cell(nn.Module):
    """One NAS-Bench-201 cell with fixed ops on its 6 edges."""

    def __init__(self, ops: tuple[str, ...], channels: int) -> None:
        super().__init__()
        self.ops = ops
        self.edges = nn.ModuleList(make_op(op, channels) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            total = None
            for k, (src, dst) in enumerate(EDGES):
                if dst == target:
                    y = self.edges[k](nodes[src])
                    total = y if total is None else total + y
            nodes.append(total)
        return nodes[3]


class ResidualReduction(nn.Module):
    """The benchmark's ResNet basic block between stages: stride 2, channels doubled."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The NAS-Bench-201 macro network around one cell genotype."""

    def __init__(
        self, ops: tuple[str, ...], num_classes: int = 10, channels: int = 16, cells: int = 5
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers.extend(Cell(ops, c) for _ in range(cells))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.global_pooling(out).flatten(1))


def parse_arch(text: str) -> tuple[str, ...]:
    """The 6 edge ops of an arch string, in :data:`EDGES` order; ``ValueError`` names the spot.

    Example:
        >>> parse_arch("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|")
        ('nor_conv_3x3', 'none', 'skip_connect', 'none', 'none', 'avg_pool_3x3')
    """
    if not isinstance(text, str):
        raise ValueError(f"nb201: arch must be a string, got {type(text).__name__}")
    groups = text.strip().split("+")
    if len(groups) != 3:
        raise ValueError(
            f"nb201: {text!r} has {len(groups)} node groups, expected 3 "
            "(form |op~0|+|op~0|op~1|+|op~0|op~1|op~2|)"
        )
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise ValueError(f"nb201: node {node} group {group!r} must start and end with '|'")
        items = group[1:-1].split("|")
        if len(items) != node:
            raise ValueError(f"nb201: node {node} has {len(items)} edges, expected {node}")
        for src, item in enumerate(items):
            op, sep, index = item.partition("~")
            if not sep or index != str(src):
                raise ValueError(f"nb201: node {node}, edge {src}: {item!r} must read 'op~{src}'")
            if op not in OPS:
                raise ValueError(
                    f"nb201: node {node}, edge {src}: unknown op {op!r}; allowed: {', '.join(OPS)}"
                )
            ops.append(op)
    return tuple(ops)


def format_arch(ops: tuple[str, ...] | list[str]) -> str:
    """The arch string of 6 edge ops in :data:`EDGES` order."""
    if len(ops) != 6:
        raise ValueError(f"nb201: expected 6 edge ops, got {len(ops)}")
    groups = [[], [], []]
    for (src, dst), op in zip(EDGES, ops):
        if op not in OPS:
            raise ValueError(f"nb201: unknown op {op!r}; allowed: {', '.join(OPS)}")
        groups[dst - 1].append(f"{op}~{src}")
    return "+".join("|" + "|".join(g) + "|" for g in groups)


def _live_edges(ops: tuple[str, ...]) -> list[bool]:
    """Which edges lie on a path of non-``none`` edges from node 0 to node 3."""
    reach = {0}
    for target in (1, 2, 3):
        if any(ops[k] != "none" and s in reach for k, (s, d) in enumerate(EDGES) if d == target):
            reach.add(target)
    coreach = {3}
    for source in (2, 1, 0):
        if any(ops[k] != "none" and d in coreach for k, (s, d) in enumerate(EDGES) if s == source):
            coreach.add(source)
    return [ops[k] != "none" and s in reach and d in coreach for k, (s, d) in enumerate(EDGES)]


@register_search_space("nb201")
class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell space (15,625 cells).

    Example:
        >>> space = NB201Space()
        >>> space.size()
        15625
    """

    name = "nb201"

    def __init__(self, *, channels: int = 16, cells: int = 5, **options: Any) -> None:
        check_unknown_options(self.name, options, ["channels", "cells"])
        self.channels = check_positive_int("channels", channels)
        self.cells = check_positive_int("cells", cells)

    def options(self) -> dict[str, Any]:
        return {"channels": self.channels, "cells": self.cells}

    def suggest(self, trial: Any) -> ArchSpec:
        ops = tuple(trial.suggest_categorical(f"edge_{src}_{dst}", list(OPS)) for src, dst in EDGES)
        return ArchSpec(self.name, format_arch(ops))

    def sample(self, rng: random.Random | int | None = None) -> ArchSpec:
        r = self._rng(rng)
        return ArchSpec(self.name, format_arch(tuple(r.choice(OPS) for _ in EDGES)))

    def parse(self, text: str) -> ArchSpec:
        return ArchSpec(self.name, format_arch(parse_arch(text)))

    def ops(self, spec: ArchSpec | str) -> tuple[str, ...]:
        """The 6 edge ops of a spec, in :data:`EDGES` order."""
        return parse_arch(self._spec(spec).arch)

    def trial_params(self, spec: ArchSpec | str) -> dict[str, Any]:
        return {f"edge_{s}_{d}": op for (s, d), op in zip(EDGES, self.ops(spec))}

    def build(self, spec: ArchSpec | str, num_classes: int = 10) -> nn.Module:
        return NB201Network(self.ops(spec), num_classes, self.channels, self.cells)

    def enumerate(self) -> Iterator[ArchSpec]:
        for ops in itertools.product(OPS, repeat=len(EDGES)):
            yield ArchSpec(self.name, format_arch(ops))

    def size(self) -> int:
        return len(OPS) ** len(EDGES)

    def is_disconnected(self, spec: ArchSpec | str) -> bool:
        """True when no path of non-``none`` edges joins the input to the output (the network's
        logits then do not depend on the image; such cells score 10% on CIFAR-10)."""
        return not any(_live_edges(self.ops(spec)))

    def canonical(self, spec: ArchSpec | str) -> ArchSpec:
        """An isomorphism-canonical representative: edges off every input→output path become
        ``none`` (they cannot carry the input to the output), and when nodes 1 and 2 are not joined, the
        lexicographically smaller of the two node orders is taken (the cell computes the same
        function under that relabelling).

        Example:
            >>> s = NB201Space()
            >>> a = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|nor_conv_1x1~2|"
            >>> b = "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"
            >>> s.canonical(a) == s.canonical(b)
            True
        """
        ops = list(self.ops(spec))
        live = _live_edges(tuple(ops))
        ops = [op if keep else "none" for op, keep in zip(ops, live)]
        candidates = [tuple(ops)]
        if ops[2] == "none":  # edge 1→2 absent: nodes 1 and 2 are interchangeable
            # swap edges 0→1 / 0→2 and 1→3 / 2→3
            swapped = [ops[1], ops[0], "none", ops[3], ops[5], ops[4]]
            candidates.append(tuple(swapped))
        return ArchSpec(self.name, format_arch(min(candidates)))
