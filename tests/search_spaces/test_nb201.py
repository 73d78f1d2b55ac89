from __future__ import annotations

import pytest
import torch

from search_spaces import create_search_space
from search_spaces.nb201 import OPS, format_arch, parse_arch

SPACE = create_search_space("nb201")


@pytest.mark.parametrize(
    "arch, params",
    [
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
            802_426,
        ),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 73_306),
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            1_531_546,
        ),
    ],
)
def test_parameter_counts_match_the_benchmark(arch, params):
    assert SPACE.cost(arch).params == params


@pytest.mark.slow
def test_parameter_range_over_the_whole_space():
    # parameters depend only on how many 1x1 / 3x3 convs a cell has
    counts = {}
    for spec in SPACE.enumerate():
        ops = SPACE.ops(spec)
        counts.setdefault((ops.count("nor_conv_1x1"), ops.count("nor_conv_3x3")), spec)
    sizes = [SPACE.cost(spec).params for spec in counts.values()]
    assert min(sizes) == 73_306 and max(sizes) == 1_531_546


def test_enumerate_all_distinct():
    specs = list(SPACE.enumerate())
    assert len(specs) == SPACE.size() == 15_625
    assert len(set(specs)) == 15_625
    assert len({s.hash for s in specs}) == 15_625


def test_disconnected_cells():
    assert sum(SPACE.is_disconnected(s) for s in SPACE.enumerate()) == 341
    assert (
        SPACE.is_disconnected("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|")
        is False
    )
    assert (
        SPACE.is_disconnected("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|")
        is True
    )


def test_disconnected_cells_output_does_not_depend_on_input():
    torch.manual_seed(0)
    model = SPACE.build("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|").eval()
    x = torch.randn(3, 3, 32, 32)
    out = model(x)
    assert torch.allclose(out, out[:1].expand_as(out), atol=1e-6)


def test_canonical_form():
    a = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|nor_conv_1x1~2|"
    b = "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"
    assert SPACE.canonical(a) == SPACE.canonical(b)
    dead = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|"
    assert SPACE.canonical(dead) == SPACE.parse(
        "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    )
    canon = {SPACE.canonical(s) for s in SPACE.enumerate()}
    assert len(canon) < 15_625
    assert all(SPACE.canonical(c) == c for c in list(canon)[:500])


def test_cell_structure_follows_the_benchmark():
    model = SPACE.build(
        "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|skip_connect~2|"
    )
    cell = model.cells[0]
    conv = cell.edges[0]
    assert [type(m).__name__ for m in conv] == ["ReLU", "Conv2d", "BatchNorm2d"]
    assert conv[1].bias is None and conv[1].kernel_size == (1, 1)
    pool = cell.edges[2]
    assert pool.count_include_pad is False and pool.kernel_size == 3
    assert len(model.cells) == 17  # 3 x 5 cells + 2 reductions
    assert model.classifier.in_features == 64


def test_parse_format_roundtrip():
    ops = ("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none")
    assert parse_arch(format_arch(ops)) == ops
    assert set(OPS) == {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"}


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (4, 16, 32, 32), (1, 2, 1, 1), (2, 2, 2, 1)])
def test_avg_pool_3x3_equals_torch_pooling_with_gradients(shape):
    from search_spaces.nb201 import AvgPool3x3

    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    ours = AvgPool3x3()(x)
    ref = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    g = torch.randn_like(ref)
    (g_ours,) = torch.autograd.grad(ours, x, g)
    (g_ref,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-12, atol=1e-12)
    assert isinstance(AvgPool3x3(), torch.nn.AvgPool2d)
