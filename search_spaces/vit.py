"""Vision Transformer space for 32×32 inputs: patch size, depth, width, heads, MLP ratio, pooling.

Text form: ``patch=4;depth=2;dim=64;heads=2;mlp=2.0;pool=cls``. The network: a Conv2d patch
embedding, a learned class token (``pool=cls``) and position embedding, ``depth`` pre-norm
blocks (LayerNorm → multi-head self-attention → residual; LayerNorm → MLP with GELU →
residual), a final LayerNorm, then the class token or the mean token into a Linear head.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from search_spaces._keyvalue import (
    check_choices,
    check_float_range,
    check_int_range,
    check_positive_int,
    check_unknown_options,
    format_fields,
    parse_choice,
    parse_float,
    parse_int,
    split_fields,
)
from search_spaces._registry import register_search_space
from search_spaces._transformer import check_input_size
from search_spaces.base import ArchSpec, SearchSpace

POOLING = ("cls", "mean")
KEYS = ("patch", "depth", "dim", "heads", "mlp", "pool")


@dataclass(frozen=True)
class ViTGenome:
    patch: int
    depth: int
    dim: int
    heads: int
    mlp: float
    pool: str


class Tokens(nn.Module):
    """Patch tokens + optional class token + learned position embedding."""

    def __init__(self, dim: int, patch: int, image: int, cls_token: bool) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.image, self.grid = image, (image // patch, image // patch)
        n = (image // patch) ** 2 + int(cls_token)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim)) if cls_token else None
        self.pos = nn.Parameter(torch.zeros(1, n, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.pos, std=0.02)
        if self.cls is not None:
            nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.proj(x)
        check_input_size("vit", tuple(patches.shape[-2:]), self.grid, self.image)
        t = patches.flatten(2).transpose(1, 2)
        if self.cls is not None:
            t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1)
        return t + self.pos


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        out = att.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, g: ViTGenome, num_classes: int, image: int = 32, dropout: float = 0.0):
        super().__init__()
        self.pool = g.pool
        self.tokens = Tokens(g.dim, g.patch, image, cls_token=g.pool == "cls")
        self.blocks = nn.Sequential(
            *(Block(g.dim, g.heads, g.mlp, dropout) for _ in range(g.depth))
        )
        self.norm = nn.LayerNorm(g.dim)
        self.head = nn.Linear(g.dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.norm(self.blocks(self.tokens(x)))
        return self.head(t[:, 0] if self.pool == "cls" else t.mean(1))


def _log2_range(key: str, value: Any) -> tuple[int, int]:
    low, high = check_int_range(key, value)
    for v in (low, high):
        if v & (v - 1):
            raise ValueError(f"option {key!r} must be powers of two, got {list(value)}")
    return low, high


@register_search_space("vit")
class ViTSpace(SearchSpace):
    """Small ViTs for 32×32 images. Options: ``patch_size`` and ``heads`` as ``[low, high]``
    powers of two (patch sizes must divide 32), ``depth``, ``dim`` as ``[low, high]`` with
    ``dim_step``, ``mlp_ratio`` as ``[low, high]`` with ``mlp_step``, ``pooling`` as a list,
    ``dropout`` (MLP dropout, off when scoring).

    Example:
        >>> space = ViTSpace()
        >>> space.build("patch=8;depth=1;dim=32;heads=1;mlp=1.0;pool=mean")(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    name = "vit"

    def __init__(
        self,
        *,
        patch_size: list[int] | tuple[int, int] = (4, 8),
        depth: list[int] | tuple[int, int] = (1, 4),
        dim: list[int] | tuple[int, int] = (32, 128),
        dim_step: int = 32,
        heads: list[int] | tuple[int, int] = (1, 4),
        mlp_ratio: list[float] | tuple[float, float] = (1.0, 4.0),
        mlp_step: float = 0.5,
        pooling: list[str] | tuple[str, ...] = POOLING,
        dropout: float = 0.0,
        **unknown: Any,
    ) -> None:
        check_unknown_options(
            self.name,
            unknown,
            [
                "patch_size",
                "depth",
                "dim",
                "dim_step",
                "heads",
                "mlp_ratio",
                "mlp_step",
                "pooling",
                "dropout",
            ],
        )
        self.patch_size = _log2_range("patch_size", patch_size)
        if 32 % self.patch_size[1]:
            raise ValueError("option 'patch_size' must divide the 32x32 image")
        self.depth = check_int_range("depth", depth)
        self.dim_step = check_positive_int("dim_step", dim_step)
        self.dim = check_int_range("dim", dim)
        if (self.dim[1] - self.dim[0]) % self.dim_step:
            raise ValueError("option 'dim': high - low must be a multiple of dim_step")
        self.heads = _log2_range("heads", heads)
        if self.dim[0] % self.heads[1] or self.dim_step % self.heads[1]:
            raise ValueError(
                "option 'heads': every dim must be divisible by the largest head count"
            )
        self.mlp_ratio = check_float_range("mlp_ratio", mlp_ratio, minimum=0.25)
        if not isinstance(mlp_step, (int, float)) or mlp_step <= 0:
            raise ValueError(f"option 'mlp_step' must be a positive number, got {mlp_step!r}")
        self.mlp_step = float(mlp_step)
        self.pooling = check_choices("pooling", pooling, POOLING)
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"option 'dropout' must be in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)

    def options(self) -> dict[str, Any]:
        return {
            "patch_size": list(self.patch_size),
            "depth": list(self.depth),
            "dim": list(self.dim),
            "dim_step": self.dim_step,
            "heads": list(self.heads),
            "mlp_ratio": list(self.mlp_ratio),
            "mlp_step": self.mlp_step,
            "pooling": list(self.pooling),
            "dropout": self.dropout,
        }

    def _format(self, g: ViTGenome) -> ArchSpec:
        fields = [
            ("patch", g.patch),
            ("depth", g.depth),
            ("dim", g.dim),
            ("heads", g.heads),
            ("mlp", float(g.mlp)),
            ("pool", g.pool),
        ]
        return ArchSpec(self.name, format_fields(fields))

    def _log2(self, bounds: tuple[int, int]) -> tuple[int, int]:
        return int(math.log2(bounds[0])), int(math.log2(bounds[1]))

    def suggest(self, trial: Any) -> ArchSpec:
        patch = 2 ** trial.suggest_int("log2_patch_size", *self._log2(self.patch_size))
        depth = trial.suggest_int("depth", *self.depth)
        dim = trial.suggest_int("dim", *self.dim, step=self.dim_step)
        heads = 2 ** trial.suggest_int("log2_heads", *self._log2(self.heads))
        mlp = trial.suggest_float("mlp_ratio", *self.mlp_ratio, step=self.mlp_step)
        pool = trial.suggest_categorical("pooling", list(self.pooling))
        return self._format(ViTGenome(patch, depth, dim, heads, round(mlp, 6), pool))

    def sample(self, rng: random.Random | int | None = None) -> ArchSpec:
        r = self._rng(rng)
        steps = int(round((self.mlp_ratio[1] - self.mlp_ratio[0]) / self.mlp_step))
        g = ViTGenome(
            patch=2 ** r.randint(*self._log2(self.patch_size)),
            depth=r.randint(*self.depth),
            dim=r.choice(range(self.dim[0], self.dim[1] + 1, self.dim_step)),
            heads=2 ** r.randint(*self._log2(self.heads)),
            mlp=round(self.mlp_ratio[0] + self.mlp_step * r.randint(0, steps), 6),
            pool=r.choice(self.pooling),
        )
        return self._format(g)

    def genome(self, spec: ArchSpec | str) -> ViTGenome:
        """The structured form of a spec (validated against this space's options)."""
        text = spec if isinstance(spec, str) else self._spec(spec).arch
        f = split_fields(self.name, text, KEYS)
        patch = parse_int(self.name, "patch", f["patch"], *self.patch_size)
        if patch & (patch - 1):
            raise ValueError(f"{self.name}: patch={patch} must be a power of two")
        heads = parse_int(self.name, "heads", f["heads"], *self.heads)
        if heads & (heads - 1):
            raise ValueError(f"{self.name}: heads={heads} must be a power of two")
        return ViTGenome(
            patch=patch,
            depth=parse_int(self.name, "depth", f["depth"], *self.depth),
            dim=parse_int(self.name, "dim", f["dim"], *self.dim, self.dim_step),
            heads=heads,
            mlp=parse_float(self.name, "mlp", f["mlp"], *self.mlp_ratio, self.mlp_step),
            pool=parse_choice(self.name, "pool", f["pool"], self.pooling),
        )

    def parse(self, text: str) -> ArchSpec:
        return self._format(self.genome(text))

    def trial_params(self, spec: ArchSpec | str) -> dict[str, Any]:
        g = self.genome(spec)
        return {
            "log2_patch_size": int(math.log2(g.patch)),
            "depth": g.depth,
            "dim": g.dim,
            "log2_heads": int(math.log2(g.heads)),
            "mlp_ratio": g.mlp,
            "pooling": g.pool,
        }

    def build(self, spec: ArchSpec | str, num_classes: int = 10) -> nn.Module:
        return ViT(self.genome(spec), num_classes, dropout=self.dropout)
