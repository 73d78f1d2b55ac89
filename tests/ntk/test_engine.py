from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from ntknas import empirical_ntk, layerwise_ntk
from ntknas.ntk import BN_MODES, KERNELS, contract_full, hooks_support, weights_in_layout
from ntknas.ntk import _hooks as hooks_module
from search_spaces import create_search_space
from tests.conftest import INPUTS, MODELS

VECTORIZED = ("func", "hooks", "autograd")


def reference(model: nn.Module, x: torch.Tensor, **kw) -> torch.Tensor:
    return empirical_ntk(
        copy.deepcopy(model).double(), x.double(), implementation="reference", **kw
    )


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("bn", BN_MODES)
@pytest.mark.parametrize("implementation", VECTORIZED)
def test_matches_float64_reference(model_and_input, kernel, bn, implementation):
    name, model, x = model_and_input
    if bn == "batch" and implementation in ("func", "hooks"):
        with pytest.raises(ValueError, match="bn='batch'"):
            empirical_ntk(model, x, kernel=kernel, bn=bn, implementation=implementation)
        return
    for params in ("all", "weights"):
        expected = reference(model, x, kernel=kernel, bn=bn, params=params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # hooks may fall back to torch.func
            got = empirical_ntk(
                model, x, kernel=kernel, bn=bn, params=params, implementation=implementation
            )
        assert got.dtype == torch.float32
        assert rel_err(got, expected) <= 1e-5, (name, kernel, bn, implementation, params)


def hooks_kernel_without_fallback(model: nn.Module, x: torch.Tensor, **options) -> torch.Tensor:
    """The hooks implementation's kernel; a fallback to torch.func (which warns) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return empirical_ntk(model, x, implementation="hooks", **options)


def test_hooks_run_without_fallback_on_supported_models():
    torch.manual_seed(0)
    model, x = MODELS["cnn"](), torch.randn(4, *INPUTS["cnn"])
    assert hooks_support(model) is None
    hooks_kernel_without_fallback(model, x)
    assert hooks_support(MODELS["vit"]()) is not None  # bare cls/pos parameters


@pytest.mark.parametrize("kernel", KERNELS)
def test_symmetric_psd(model_and_input, kernel):
    _, model, x = model_and_input
    K = empirical_ntk(model, x, kernel=kernel).double()
    assert torch.allclose(K, K.T, atol=1e-6 * K.abs().max())
    assert torch.linalg.eigvalsh(K).min() >= -1e-5 * K.diagonal().max()


@pytest.mark.parametrize("bn", BN_MODES)
def test_full_traced_over_classes_equals_trace(model_and_input, bn):
    _, model, x = model_and_input
    full = empirical_ntk(model, x, kernel="full", bn=bn)
    trace = empirical_ntk(model, x, kernel="trace", bn=bn)
    b = x.shape[0]
    c = full.shape[0] // b
    traced = full.reshape(b, c, b, c).diagonal(dim1=1, dim2=3).sum(-1)
    assert rel_err(traced, trace) < 1e-5


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("bn", BN_MODES)
def test_contract_full_equals_direct_kernel(model_and_input, kernel, bn):
    _, model, x = model_and_input
    full = empirical_ntk(model, x, kernel="full", bn=bn)
    direct = empirical_ntk(model, x, kernel=kernel, bn=bn)
    c = full.shape[0] // x.shape[0]
    assert rel_err(contract_full(full, c, kernel), direct) < 1e-5


def test_contract_full_rejects_bad_shapes():
    with pytest.raises(ValueError, match="full kernel of shape"):
        contract_full(torch.eye(7), 3, "sum")
    with pytest.raises(ValueError, match="kernel"):
        contract_full(torch.eye(6), 3, "diagonal")


def test_sum_kernel_of_one_class_model_equals_trace():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    x = torch.randn(6, 3)
    assert torch.allclose(
        empirical_ntk(model, x, kernel="sum"), empirical_ntk(model, x, kernel="trace")
    )


@pytest.mark.parametrize("bn", BN_MODES)
def test_caller_model_unchanged(bn):
    torch.manual_seed(0)
    model, x = MODELS["cnn"](), torch.randn(4, *INPUTS["cnn"])
    model.train()
    model.bn1.eval()  # a mixed state must survive too
    state = copy.deepcopy(model.state_dict())
    flags = [m.training for m in model.modules()]
    for implementation in ("autograd",) if bn == "batch" else ("func", "hooks", "autograd"):
        empirical_ntk(model, x, bn=bn, implementation=implementation, repeats=1)
    empirical_ntk(model, x, bn=bn, repeats=2)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert [m.training for m in model.modules()] == flags


def test_bn_modes_differ_and_frozen_uses_batch_statistics():
    torch.manual_seed(0)
    model, x = MODELS["cnn"](), torch.randn(6, *INPUTS["cnn"]) * 3 + 1
    kernels = {bn: empirical_ntk(model, x, bn=bn) for bn in BN_MODES}
    assert rel_err(kernels["frozen"], kernels["eval"]) > 1e-3
    assert rel_err(kernels["frozen"], kernels["batch"]) > 1e-3


def test_repeats_average_fresh_initializations():
    torch.manual_seed(0)
    model, x = MODELS["mlp"](), torch.randn(5, *INPUTS["mlp"])
    averaged = empirical_ntk(model, x, repeats=3, seed=7)
    singles = []
    for r in range(3):
        m = copy.deepcopy(model)
        torch.manual_seed(7 + r)
        for layer in m.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
        singles.append(empirical_ntk(m, x))
    assert rel_err(averaged, torch.stack(singles).mean(0)) < 1e-6
    assert rel_err(averaged, empirical_ntk(model, x)) > 1e-3
    assert torch.equal(averaged, empirical_ntk(model, x, repeats=3, seed=7))


@pytest.mark.parametrize("implementation", ("func", "autograd"))
def test_memory_budget_groups_give_same_kernel(implementation):
    torch.manual_seed(0)
    model, x = MODELS["cnn"](), torch.randn(4, *INPUTS["cnn"])
    whole = empirical_ntk(model, x, kernel="full", implementation=implementation)
    pieces = empirical_ntk(
        model,
        x,
        kernel="full",
        implementation=implementation,
        memory_budget=4 * 4 * 5 * 50,
        chunk_size=2,
    )
    assert rel_err(pieces, whole) < 1e-6


def test_tf32_flags_restored():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cudnn.allow_tf32 = True
    empirical_ntk(MODELS["mlp"](), torch.randn(3, *INPUTS["mlp"]))
    assert torch.backends.cudnn.allow_tf32 is True
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_nb201_like_relu_inplace_hooks_vs_reference():
    """torchvision-style block: bn → ReLU(inplace) → conv, `out += identity`."""
    import search_spaces

    space = search_spaces.create_search_space(
        "resnet", stages=[1, 1], blocks=[1, 1], width=[8, 8], width_step=8
    )
    torch.manual_seed(0)
    model = space.build("block=basic;stem=conv3;blocks=1;width=8;expansion=1")
    x = torch.randn(4, 3, 8, 8)
    expected = reference(model, x)
    for implementation in ("hooks", "func"):
        assert rel_err(empirical_ntk(model, x, implementation=implementation), expected) < 1e-5


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, x: empirical_ntk("not a model", x), "torch.nn.Module"),
        (lambda m, x: empirical_ntk(m, [1, 2]), "torch.Tensor"),
        (lambda m, x: empirical_ntk(m, torch.randn(4, 7)), "does not fit the model"),
        (
            lambda m, x: empirical_ntk(m, torch.randn(4, 3, 2, 2), kernel="diag"),
            "unknown kernel 'diag'",
        ),
        (lambda m, x: empirical_ntk(m, torch.randn(4, 3, 2, 2), bn="train"), "unknown bn 'train'"),
        (
            lambda m, x: empirical_ntk(m, torch.randn(4, 3, 2, 2), params="bias"),
            "unknown params 'bias'",
        ),
        (
            lambda m, x: empirical_ntk(m, torch.randn(4, 3, 2, 2), implementation="jax"),
            "unknown implementation",
        ),
        (lambda m, x: empirical_ntk(nn.ReLU(), torch.randn(4, 3)), "no trainable parameters"),
        (lambda m, x: empirical_ntk(m, torch.randn(4, 3, 2, 2), repeats=0), "repeats"),
        (lambda m, x: empirical_ntk(m, torch.randint(0, 3, (4, 3, 2, 2))), "floating-point"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(MODELS["mlp"](), None)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("implementation", VECTORIZED)
def test_float32_kernel_is_as_accurate_as_the_float32_reference_loop(implementation, seed):
    """Two images through a search-space CNN with eval-mode BatchNorm at init: a nearly rank-1
    trace kernel (~10⁵ parameters × 10 classes per entry). Summed in float32 the Gram was off by
    2e-4 relative. What float32 can promise depends on the CPU and the thread count (per-sample
    gradients alone are 4e-6 to 6e-5 off here, 2.2e-5 on an AMD EPYC where a fixed 1e-5 bound
    failed), so the engine is held to the plain float32 loop's own error on the same machine:
    its Gram accumulates in float64 like the loop's, so it is no further from float64."""
    import search_spaces

    space = search_spaces.create_search_space("cnn")
    torch.manual_seed(seed)
    model = space.build(space.sample(seed), num_classes=10)
    x = torch.randn(2, 3, 32, 32)
    ref = reference(model, x, kernel="trace", bn="eval")
    loop = empirical_ntk(model, x, kernel="trace", bn="eval", implementation="reference")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = empirical_ntk(model, x, kernel="trace", bn="eval", implementation=implementation)
    assert got.dtype == loop.dtype == torch.float32
    assert rel_err(got, ref) <= 2 * rel_err(loop, ref) + 1e-6


def test_gram_accumulates_chunks_in_float64():
    """Every float32 chunk product is exact here (an integer below 2²⁴), their sum is not: an odd
    integer above 2²⁴, which float32 cannot hold."""
    from ntknas.ntk import _gram

    theta = torch.zeros(1, 1, dtype=_gram.gram_dtype(torch.float32))
    chunk = 1_000
    jac = torch.ones(1, 1, 3 * chunk)
    jac[0, 0, ::chunk] = 3000.0  # each chunk: 3000² + 999 = 9,000,999 < 2^24
    old = _gram.GRAM_CHUNK
    _gram.GRAM_CHUNK = chunk
    try:
        _gram._gram_update(theta, jac, "sum")
    finally:
        _gram.GRAM_CHUNK = old
    exact = 3 * (3000**2 + chunk - 1)
    assert theta.dtype == torch.float64 and float(theta) == exact
    assert float(torch.tensor(exact, dtype=torch.float32)) != exact  # float32 could not hold it


@pytest.mark.parametrize("kernel", ("sum", "trace"))
@pytest.mark.parametrize("bn", ("frozen", "eval"))
@pytest.mark.parametrize("implementation", ("func", "hooks", "reference"))
def test_layerwise_kernels_sum_to_the_reference(model_and_input, kernel, bn, implementation):
    name, model, x = model_and_input
    expected = reference(model, x, kernel=kernel, bn=bn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        layers = layerwise_ntk(model, x, kernel=kernel, bn=bn, implementation=implementation)
    owners = [m for m, mod in model.named_modules() if list(mod.parameters(recurse=False))]
    assert list(layers) == owners, name
    for layer, theta in layers.items():
        assert theta.shape == expected.shape and torch.allclose(theta, theta.T, atol=1e-6), layer
        assert torch.linalg.eigvalsh(theta.double())[0] >= -1e-5 * float(expected.abs().max())
    total = sum(layers.values())
    assert rel_err(total, expected) <= 1e-5, (name, kernel, bn, implementation)


def test_layerwise_kernels_equal_a_model_with_only_that_layer_trainable():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    x = torch.randn(7, 4)
    layers = layerwise_ntk(model, x)
    for name in ("0", "2", "4"):
        alone = copy.deepcopy(model)
        for pname, p in alone.named_parameters():
            p.requires_grad_(pname.startswith(name + "."))
        assert torch.allclose(layers[name], empirical_ntk(alone, x), rtol=1e-5, atol=1e-6)


def test_layerwise_repeats_average_and_dead_layers_are_zero():
    torch.manual_seed(0)

    class Dead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x) + 0.0 * self.unused(x)

    model, x = Dead(), torch.randn(4, 3)
    for implementation in ("hooks", "func"):
        layers = layerwise_ntk(model, x, implementation=implementation)
        assert torch.count_nonzero(layers["unused"]) == 0 and layers["used"].abs().sum() > 0
    averaged = layerwise_ntk(model, x, repeats=3, seed=5)
    total = empirical_ntk(model, x, repeats=3, seed=5)
    assert torch.allclose(sum(averaged.values()), total, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("implementation", "bn"), [("autograd", "batch"), ("func", "frozen")])
@pytest.mark.parametrize("budget", (4 * 6 * 40, 1 << 30))  # groups split modules / span all
def test_layerwise_kernels_whatever_the_parameter_groups(implementation, bn, budget):
    torch.manual_seed(0)
    model, x = MODELS["cnn"](), torch.randn(6, *INPUTS["cnn"])
    layers = layerwise_ntk(model, x, bn=bn, implementation=implementation, memory_budget=budget)
    for name, theta in layers.items():
        alone = copy.deepcopy(model)
        for pname, p in alone.named_parameters():
            p.requires_grad_(pname.rsplit(".", 1)[0] == name)
        expected = reference(alone, x, kernel="sum", bn=bn)
        assert rel_err(theta, expected) <= 1e-5, (name, implementation, bn, budget)


def test_layerwise_costs_the_passes_of_the_whole_kernel(monkeypatch):
    """Per-layer kernels split each parameter group's Jacobian by module: with coupled samples
    (bn="batch") they need the same backward passes as the whole kernel, not one set per layer."""
    torch.manual_seed(0)
    model, x = MODELS["cnn"](), torch.randn(5, *INPUTS["cnn"])
    calls = [0]
    real_grad = torch.autograd.grad

    def counting_grad(*args, **kwargs):
        calls[0] += 1
        return real_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counting_grad)
    counts = []
    for fn in (empirical_ntk, layerwise_ntk):
        calls[0] = 0
        fn(model, x, bn="batch", implementation="autograd")
        counts.append(calls[0])
    assert counts[0] == counts[1] > 0


@pytest.mark.parametrize("kernel", ("sum", "trace"))
@pytest.mark.parametrize("bn", ("frozen", "eval"))
def test_hooks_pointwise_convolutions_match_the_reference(kernel, bn):
    """1×1 convolutions (stride 1 and 2, with and without bias) take the batched-matmul path."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(inplace=True),
        nn.Conv2d(6, 5, 1),
        nn.ReLU(),
        nn.Conv2d(5, 4, 1, stride=2, bias=False),
        nn.BatchNorm2d(4),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    )
    x = torch.randn(5, 3, 7, 7)
    got = hooks_kernel_without_fallback(model, x, kernel=kernel, bn=bn)
    assert rel_err(got, reference(model, x, kernel=kernel, bn=bn)) <= 1e-5


@pytest.mark.parametrize("path", ("windows", "grouped"))
@pytest.mark.parametrize("kernel", ("sum", "trace"))
@pytest.mark.parametrize("bn", ("frozen", "eval"))
def test_hooks_convolution_paths_match_the_reference(monkeypatch, path, kernel, bn):
    """k×k convolutions take a batched matmul over input windows (CPU, one group, small windows)
    or the grouped backward-weight convolution: both equal the reference for strides, dilation,
    rectangular kernels and uneven padding, with and without bias."""
    monkeypatch.setattr(
        hooks_module, "WINDOWS_MAX_ELEMENTS_PER_SAMPLE", 10**9 if path == "windows" else -1
    )
    used = []
    real = hooks_module._conv_weight_windows

    def spy(*args):
        used.append(True)
        return real(*args)

    monkeypatch.setattr(hooks_module, "_conv_weight_windows", spy)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(inplace=True),
        nn.Conv2d(6, 5, (3, 5), stride=2, padding=(1, 2)),
        nn.ReLU(),
        nn.Conv2d(5, 4, 3, padding=2, dilation=2, bias=False),
        nn.BatchNorm2d(4),
        nn.Conv2d(4, 4, 2, stride=(1, 2)),
        nn.Flatten(),
        nn.Linear(4 * 4 * 2, 3),
    )
    x = torch.randn(5, 3, 9, 8)
    got = hooks_kernel_without_fallback(model, x, kernel=kernel, bn=bn)
    assert rel_err(got, reference(model, x, kernel=kernel, bn=bn)) <= 1e-5
    assert len(used) == (4 if path == "windows" else 0) * (1 if kernel == "sum" else 3)


@pytest.mark.parametrize("implementation", ("hooks", "func"))
def test_a_channels_last_model_gets_the_kernel_of_its_nchw_copy(implementation):
    """The kernel pass runs NCHW whatever the caller's layout, so one network has one kernel:
    before, this NAS-Bench-Macro network's hooks kernel differed by 1e-4 (relative) between
    its NCHW and channels-last copies on this batch (each about as far from float64: the
    frozen BatchNorm makes this kernel sensitive to float32 rounding in either layout). The
    caller's weights come back in their own layout."""
    space = create_search_space("nbmacro")
    torch.manual_seed(0)
    model = space.build("12011100", num_classes=10)
    x = torch.randn(8, *space.input_shape, generator=torch.Generator().manual_seed(1))
    expected = empirical_ntk(model, x, implementation=implementation)
    nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)
    strides = {name: p.stride() for name, p in nhwc.named_parameters()}
    got = empirical_ntk(
        nhwc, x.contiguous(memory_format=torch.channels_last), implementation=implementation
    )
    assert rel_err(got, expected) <= 1e-6
    assert {name: p.stride() for name, p in nhwc.named_parameters()} == strides
    for p, q in zip(nhwc.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_weights_in_layout_goes_by_strides_and_restores_each_tensor():
    conv = nn.Conv2d(4, 6, 1)  # a 1×1 weight is "contiguous" in both layouts; its strides differ
    conv.weight.data = conv.weight.data.clone(memory_format=torch.channels_last)
    wide = nn.Conv2d(6, 2, 3)
    net = nn.Sequential(conv, wide)
    values = [p.clone() for p in net.parameters()]
    with weights_in_layout(net, torch.contiguous_format):
        assert conv.weight.stride() == (4, 1, 1, 1)
        assert wide.weight.stride() == (54, 9, 3, 1)  # already NCHW: untouched
    assert conv.weight.stride() == (4, 1, 4, 4)
    with pytest.raises(RuntimeError, match="boom"), weights_in_layout(net, torch.channels_last):
        assert wide.weight.is_contiguous(memory_format=torch.channels_last)
        raise RuntimeError("boom")
    assert wide.weight.stride() == (54, 9, 3, 1) and conv.weight.stride() == (4, 1, 4, 4)
    for p, v in zip(net.parameters(), values, strict=True):
        assert torch.equal(p, v)
