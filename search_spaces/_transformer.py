"""Transformer blocks shared by the benchmark ViT spaces (AutoFormer, PiT), written as the
Auto-Prox ground truth built them: pre-norm layers with LayerNorm(eps=1e-6), multi-head
self-attention with a biased qkv projection and scale (dim / heads)^-1/2, a GELU MLP of
``int(dim * mlp_ratio)`` hidden units. Stochastic depth (drop path) is a training-time
regularizer without parameters and is not built: at initialization it would only add noise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

LAYERNORM_EPS = 1e-6


def layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=LAYERNORM_EPS)


class MultiHeadAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attention = (q @ k.transpose(-1, -2) * self.scale).softmax(dim=-1)
        return self.proj((attention @ v).transpose(1, 2).reshape(b, n, d))


class TransformerLayer(nn.Module):
    """x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = layer_norm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.norm2 = layer_norm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def truncated_normal_(tensor: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    """timm's ``trunc_normal_(std=0.02)``: a normal truncated to [-2, 2] (absolute)."""
    return nn.init.trunc_normal_(tensor, std=std, a=-2.0, b=2.0)


def canonical_json(value: Mapping[str, Any]) -> str:
    """Compact JSON with sorted keys: the text form of the ground truth's ``arch`` column."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def load_json_arch(space: str, text: str) -> dict[str, Any]:
    """Decode a JSON arch string; ``ValueError`` names the problem."""
    if not isinstance(text, str):
        raise ValueError(f"{space}: arch must be a JSON string, got {type(text).__name__}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{space}: arch is not JSON ({error.msg} at position {error.pos})"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"{space}: arch must be a JSON object, got {type(value).__name__}")
    return value


def check_keys(space: str, value: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in value:
        if key not in keys:
            raise ValueError(f"{space}: unknown key {key!r}; allowed: {', '.join(keys)}")
    for key in keys:
        if key not in value:
            raise ValueError(f"{space}: missing key {key!r}")


def check_member(space: str, key: str, value: Any, allowed: tuple[Any, ...]) -> Any:
    """``value`` if it equals one of ``allowed`` (numbers compared by value, bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{space}: {key}={value!r} is not a number")
    for a in allowed:
        if math.isclose(float(value), float(a)):
            return a
    raise ValueError(f"{space}: {key}={value!r}; allowed: {', '.join(map(str, allowed))}")


def check_list(space: str, key: str, value: Any, length: int) -> list[Any]:
    if not isinstance(value, list) or len(value) != length:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise ValueError(f"{space}: {key} must be a list of {length} entries, got {got}")
    return value


def check_input_size(
    space: str, got: tuple[int, ...], expected: tuple[int, ...], image: int
) -> None:
    """``ValueError`` when an input's token grid does not match the position embedding: adding
    them would broadcast silently (one token against sixteen) instead of failing.

    Example:
        >>> check_input_size("vit", (4, 4), (4, 4), 32)
        >>> check_input_size("vit", (1, 1), (4, 4), 32)
        Traceback (most recent call last):
        ...
        ValueError: vit: the input gives a 1×1 token grid, the position embedding is 4×4: the network takes 32×32 images
    """
    if tuple(got) != tuple(expected):
        grid = "×".join(str(v) for v in got)
        want = "×".join(str(v) for v in expected)
        raise ValueError(
            f"{space}: the input gives a {grid} token grid, the position embedding is {want}: "
            f"the network takes {image}×{image} images"
        )
