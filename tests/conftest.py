from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seeded_rngs() -> None:
    """Every test starts from the same random state, whatever ran before it (or was collected)."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


class MLP(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 5))


class SmallCNN(nn.Module):
    """Conv + BatchNorm + in-place ReLU + grouped/depthwise conv + a residual `out += x`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=8)  # depthwise
        self.conv3 = nn.Conv2d(8, 8, 1, groups=2, bias=False)  # grouped
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv3(self.conv2(x)))
        out += x
        out = self.relu(out)
        return self.fc(self.pool(out).flatten(1))


class TinyViT(nn.Module):
    """Patch embedding, class token, LayerNorm, attention, dropout; returns a mapping
    ``{"logits": ..., "tokens": ...}`` (read through its ``"logits"`` key)."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 2, stride=2)
        self.cls = nn.Parameter(torch.randn(1, 1, 8) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, 5, 8) * 0.02)
        self.norm1 = nn.LayerNorm(8)
        self.qkv = nn.Linear(8, 24)
        self.proj = nn.Linear(8, 8)
        self.norm2 = nn.LayerNorm(8)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Dropout(0.5), nn.Linear(16, 8))
        self.head = nn.Linear(8, 4)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.cls, std=0.02)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, x: torch.Tensor):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], 1) + self.pos
        h = self.norm1(t)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        att = (q @ k.transpose(1, 2) / 8**0.5).softmax(-1)
        t = t + self.proj(att @ v)
        t = t + self.mlp(self.norm2(t))
        return {"logits": self.head(t[:, 0]), "tokens": t}


MODELS = {"mlp": MLP, "cnn": SmallCNN, "vit": TinyViT}
INPUTS = {"mlp": (3, 2, 2), "cnn": (3, 6, 6), "vit": (3, 4, 4)}


@pytest.fixture(params=sorted(MODELS))
def model_and_input(request):
    torch.manual_seed(0)
    model = MODELS[request.param]()
    x = torch.randn(5, *INPUTS[request.param], generator=torch.Generator().manual_seed(1))
    return request.param, model, x


@pytest.fixture
def legacy_scores():
    """The earlier combined-score rules registered for one test (and removed afterwards)."""
    from ntknas.combined_scores import unregister_score
    from ntknas.legacy_scores import register_legacy_scores

    added = register_legacy_scores()
    yield
    for name in added:
        unregister_score(name)


@pytest.fixture(autouse=True)
def registries_left_as_found():
    """Every test leaves the score, metric and search-space registries as it found them."""
    import search_spaces
    from ntknas.combined_scores import list_scores
    from ntknas.spectral import list_metrics

    before = (list_scores(), list_metrics(), search_spaces.list_search_spaces())
    yield
    after = (list_scores(), list_metrics(), search_spaces.list_search_spaces())
    assert after == before, "a test left a registration behind"
