"""NAS-Bench-101: the cell space and network of Ying et al. (ICML 2019).

A cell is a DAG of at most 7 vertices and 9 edges (counted after pruning): vertex 0 is the input, vertex 6 (the last)
the output, and each interior vertex one of ``conv3x3-bn-relu``, ``conv1x1-bn-relu``,
``maxpool3x3``. Vertices on no input→output path are pruned. As the benchmark builds a cell:

* the output is the channel concatenation of the interior vertices that feed it, plus a 1×1
  projection (conv, BN, ReLU) of the cell input when the input feeds the output directly;
* an interior vertex sums its inputs: a 1×1 projection of the cell input, and the other
  vertices' outputs truncated to its channel count;
* channels: the output's channels are split evenly among the vertices that feed it (the first
  ones get one more when it does not divide), every other vertex takes the largest count of
  the vertices it feeds.

The network: 3×3 conv (128 channels), BN, ReLU → 3 stacks of 3 cells, a 2×2 max pool and
channel doubling before the second and third stacks → global average pool → Linear. It
reproduces the benchmark's parameter counts.

Arch strings use the form of NASLib's zero-cost table: the 7×7 adjacency matrix as 49
row-major digits, ``:``, the 7 comma-separated op names (``input`` first, ``output`` last).
Smaller cells (after pruning) are written padded to 7 vertices the same way.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from search_spaces._keyvalue import check_positive_int, check_unknown_options
from search_spaces._registry import register_search_space
from search_spaces.base import ArchSpec, SearchSpace

OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
VERTICES = 7
MAX_EDGES = 9
INPUT, OUTPUT = "input", "output"
#: Cells that differ up to graph isomorphism, as the benchmark counts them (Ying et al. 2019).
UNIQUE_CELLS = 423_624

Matrix = tuple[tuple[int, ...], ...]


def conv_bn_relu(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


def _reach(matrix: Matrix) -> tuple[set[int], set[int]]:
    """The vertices reachable from the input, and those from which the output is reachable."""
    n = len(matrix)
    reach = {0}
    for v in range(1, n):
        if any(matrix[u][v] and u in reach for u in range(v)):
            reach.add(v)
    coreach = {n - 1}
    for v in range(n - 2, -1, -1):
        if any(matrix[v][w] and w in coreach for w in range(v + 1, n)):
            coreach.add(v)
    return reach, coreach


def prune(matrix: Matrix, ops: Sequence[str]) -> tuple[Matrix, tuple[str, ...]] | None:
    """Drop the vertices on no input→output path; None when the output is cut off."""
    n = len(matrix)
    reach, coreach = _reach(matrix)
    keep = [v for v in range(n) if v in reach and v in coreach]
    if 0 not in keep or n - 1 not in keep:
        return None
    pruned = tuple(tuple(matrix[a][b] for b in keep) for a in keep)
    return pruned, tuple(ops[v] for v in keep)


def _on_path(matrix: Matrix, a: int, b: int) -> bool:
    """Whether edge a→b lies on an input→output path."""
    reach, coreach = _reach(matrix)
    return bool(matrix[a][b]) and a in reach and b in coreach


def vertex_channels(c_in: int, c_out: int, matrix: Matrix) -> list[int]:
    """Channels of every vertex of a pruned cell, as the benchmark assigns them."""
    n = len(matrix)
    channels = [0] * n
    channels[0], channels[n - 1] = c_in, c_out
    if n == 2:
        return channels
    fan_in = sum(matrix[v][n - 1] for v in range(1, n - 1))
    share, extra = divmod(c_out, fan_in)
    for v in range(1, n - 1):
        if matrix[v][n - 1]:
            channels[v] = share + (1 if extra else 0)
            extra -= 1 if extra else 0
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            for w in range(v + 1, n - 1):
                if matrix[v][w]:
                    channels[v] = max(channels[v], channels[w])
    return channels


class Cell(nn.Module):
    """One NAS-Bench-101 cell (a pruned matrix and its ops)."""

    def __init__(self, matrix: Matrix, ops: tuple[str, ...], c_in: int, c_out: int) -> None:
        super().__init__()
        self.matrix = matrix
        n = len(matrix)
        self.channels = vertex_channels(c_in, c_out, matrix)
        self.projections = nn.ModuleDict()
        self.ops = nn.ModuleDict()
        for v in range(1, n - 1):
            if matrix[0][v]:
                self.projections[str(v)] = conv_bn_relu(c_in, self.channels[v], 1)
            c = self.channels[v]
            if ops[v] == "conv3x3-bn-relu":
                self.ops[str(v)] = conv_bn_relu(c, c, 3)
            elif ops[v] == "conv1x1-bn-relu":
                self.ops[str(v)] = conv_bn_relu(c, c, 1)
            else:
                self.ops[str(v)] = nn.MaxPool2d(3, stride=1, padding=1)
        if matrix[0][n - 1]:
            self.projections[str(n - 1)] = conv_bn_relu(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.matrix)
        values: list[torch.Tensor | None] = [x]
        concat: list[torch.Tensor] = []
        for v in range(1, n - 1):
            c = self.channels[v]
            parts = [values[u][:, :c] for u in range(1, v) if self.matrix[u][v]]
            if self.matrix[0][v]:
                parts.append(self.projections[str(v)](x))
            total = parts[0]
            for p in parts[1:]:
                total = total + p
            values.append(self.ops[str(v)](total))
            if self.matrix[v][n - 1]:
                concat.append(values[v])
        if not concat:
            return self.projections[str(n - 1)](x)
        out = concat[0] if len(concat) == 1 else torch.cat(concat, dim=1)
        if self.matrix[0][n - 1]:
            out = out + self.projections[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    """The NAS-Bench-101 network around one cell."""

    def __init__(
        self,
        matrix: Matrix,
        ops: tuple[str, ...],
        num_classes: int = 10,
        stem_channels: int = 128,
        stacks: int = 3,
        cells_per_stack: int = 3,
    ) -> None:
        super().__init__()
        self.stem = conv_bn_relu(3, stem_channels, 3)
        layers: list[nn.Module] = []
        c = stem_channels
        for stack in range(stacks):
            c_out = c
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2))
                c_out = 2 * c
            for _ in range(cells_per_stack):
                layers.append(Cell(matrix, ops, c, c_out))
                c = c_out
        self.cells = nn.Sequential(*layers)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.cells(self.stem(x))
        return self.classifier(self.global_pooling(out).flatten(1))


def parse_cell(text: str) -> tuple[Matrix, tuple[str, ...]]:
    """The matrix and ops of an arch string (not pruned); ``ValueError`` names the problem.

    Example:
        >>> m, ops = parse_cell("0100000" "0010000" "0001000" "0000100" "0000010" "0000001"
        ...     "0000000:input,conv3x3-bn-relu,conv1x1-bn-relu,maxpool3x3,conv3x3-bn-relu,"
        ...     "conv3x3-bn-relu,output")
        >>> len(m), ops[1]
        (7, 'conv3x3-bn-relu')
    """
    if not isinstance(text, str):
        raise ValueError(f"nb101: arch must be a string, got {type(text).__name__}")
    digits, sep, names = text.strip().partition(":")
    if not sep:
        raise ValueError("nb101: arch must read <49 matrix digits>:<7 comma-separated ops>")
    ops = tuple(o.strip() for o in names.split(","))
    n = len(ops)
    if not 2 <= n <= VERTICES:
        raise ValueError(f"nb101: {n} ops given, expected 2..{VERTICES} (input ... output)")
    if len(digits) != n * n:
        raise ValueError(f"nb101: the matrix has {len(digits)} digits, expected {n}x{n} = {n * n}")
    if any(d not in "01" for d in digits):
        raise ValueError("nb101: the matrix digits must be 0 or 1")
    matrix = tuple(tuple(int(digits[r * n + c]) for c in range(n)) for r in range(n))
    for r in range(n):
        for c in range(r + 1):
            if matrix[r][c]:
                raise ValueError(
                    f"nb101: edge {r}->{c} points backwards (the matrix must be strictly upper "
                    "triangular)"
                )
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ValueError(f"nb101: the first op must be {INPUT!r} and the last {OUTPUT!r}")
    for v, op in enumerate(ops[1:-1], start=1):
        if op not in OPS:
            raise ValueError(f"nb101: vertex {v}: unknown op {op!r}; allowed: {', '.join(OPS)}")
    pruned = prune(matrix, ops)
    if pruned is None:
        raise ValueError("nb101: no path from the input to the output")
    edges = sum(map(sum, pruned[0]))
    if edges > MAX_EDGES:
        raise ValueError(
            f"nb101: {edges} edges on input->output paths, at most {MAX_EDGES} allowed"
        )
    return matrix, ops


def format_cell(matrix: Matrix, ops: Sequence[str]) -> str:
    """The arch string of a matrix and its ops."""
    digits = "".join(str(int(v)) for row in matrix for v in row)
    return f"{digits}:{','.join(ops)}"


@register_search_space("nb101")
class NB101Space(SearchSpace):
    """The NAS-Bench-101 cell space: 7 vertices, at most 9 edges, 3 ops; :meth:`size` is the
    benchmark's count of cells that differ up to graph isomorphism (423,624). Enumerating them
    needs the benchmark's isomorphism hashing over every adjacency matrix and is not offered.

    Options ``stem_channels``, ``stacks`` and ``cells_per_stack`` exist for small test
    networks; the benchmark's table applies to the defaults (128, 3, 3) only.

    Example:
        >>> space = NB101Space()
        >>> spec = space.sample(0)
        >>> space.parse(spec.arch) == spec
        True
    """

    name = "nb101"

    def __init__(
        self,
        *,
        stem_channels: int = 128,
        stacks: int = 3,
        cells_per_stack: int = 3,
        **options: Any,
    ) -> None:
        check_unknown_options(self.name, options, ["stem_channels", "stacks", "cells_per_stack"])
        self.stem_channels = check_positive_int("stem_channels", stem_channels)
        self.stacks = check_positive_int("stacks", stacks)
        self.cells_per_stack = check_positive_int("cells_per_stack", cells_per_stack)

    def options(self) -> dict[str, Any]:
        return {
            "stem_channels": self.stem_channels,
            "stacks": self.stacks,
            "cells_per_stack": self.cells_per_stack,
        }

    @staticmethod
    def _edge_names() -> list[tuple[int, int]]:
        return [(a, b) for a in range(VERTICES) for b in range(a + 1, VERTICES)]

    @staticmethod
    def _matrix(edges: set[tuple[int, int]]) -> Matrix:
        return tuple(tuple(int((a, b) in edges) for b in range(VERTICES)) for a in range(VERTICES))

    def _valid_text(self, edges: set[tuple[int, int]], ops: Sequence[str]) -> str:
        """The arch string of a draw, repaired into the space when it is not valid: while the
        output is cut off, the input→output edge is added; while more than 9 edges lie on
        input→output paths, only those are kept, less the last in row-major order. A valid
        draw is returned unchanged, so ``suggest`` inverts :meth:`trial_params`."""
        names = (INPUT, *ops, OUTPUT)
        edges = set(edges)
        while True:
            matrix = self._matrix(edges)
            pruned = prune(matrix, names)
            if pruned is None:
                edges.add((0, VERTICES - 1))
                continue
            live = sorted((a, b) for a, b in edges if _on_path(matrix, a, b))
            if len(live) <= MAX_EDGES:
                return format_cell(matrix, names)
            edges = set(live[:-1])

    def suggest(self, trial: Any) -> ArchSpec:
        """One categorical per edge (``edge_a_b`` in ``"0"``/``"1"``) and per interior vertex
        (``op_v``). A draw outside the space (more than 9 live edges, or no input→output path)
        is repaired deterministically (see :meth:`_valid_text`), so every trial builds."""
        edges = {
            (a, b)
            for a, b in self._edge_names()
            if trial.suggest_categorical(f"edge_{a}_{b}", ["0", "1"]) == "1"
        }
        ops = [trial.suggest_categorical(f"op_{v}", list(OPS)) for v in range(1, VERTICES - 1)]
        return ArchSpec(self.name, self._valid_text(edges, ops))

    def sample(self, rng: random.Random | int | None = None) -> ArchSpec:
        """A uniformly random valid cell (rejection sampling, as the benchmark's own
        ``random_spec``: every edge with probability 1/2, ops uniform, redrawn until at most 9
        edges are left after pruning and the output is reachable)."""
        r = self._rng(rng)
        while True:
            edges = {e for e in self._edge_names() if r.random() < 0.5}
            ops = [r.choice(OPS) for _ in range(VERTICES - 2)]
            text = format_cell(self._matrix(edges), (INPUT, *ops, OUTPUT))
            try:
                parse_cell(text)
            except ValueError:
                continue
            return ArchSpec(self.name, text)

    def parse(self, text: str) -> ArchSpec:
        return ArchSpec(self.name, format_cell(*parse_cell(text)))

    def cell(self, spec: ArchSpec | str) -> tuple[Matrix, tuple[str, ...]]:
        """The pruned matrix and ops of a spec (what is built)."""
        pruned = prune(*parse_cell(self._spec(spec).arch))
        assert pruned is not None  # parse_cell refuses cells without an input->output path
        return pruned

    def trial_params(self, spec: ArchSpec | str) -> dict[str, Any]:
        matrix, ops = parse_cell(self._spec(spec).arch)
        if len(ops) != VERTICES:
            raise ValueError(f"nb101: trial parameters need a {VERTICES}-vertex arch string")
        params: dict[str, Any] = {f"edge_{a}_{b}": str(matrix[a][b]) for a, b in self._edge_names()}
        params.update({f"op_{v}": ops[v] for v in range(1, VERTICES - 1)})
        return params

    def size(self) -> int:
        """423,624: the distinct cells of NAS-Bench-101 (Ying et al. 2019), as published."""
        return UNIQUE_CELLS

    def build(self, spec: ArchSpec | str, num_classes: int = 10) -> nn.Module:
        matrix, ops = self.cell(spec)
        return NB101Network(
            matrix, ops, num_classes, self.stem_channels, self.stacks, self.cells_per_stack
        )
