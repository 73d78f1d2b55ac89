from __future__ import annotations

import copy
import math
import statistics
import types

import numpy as np
import pytest
import torch
from torch import nn

from ntknas.proxies import (
    RECTIFIERS,
    activation_agreement,
    activation_codes,
    backward_decorrelation,
    feature_decorrelation,
    kernel_target_alignment,
    krr_metrics,
    naswot,
    naswot_from_kernel,
    one_hot_targets,
    probe_signals,
    rectifier_signals,
)
from ntknas.proxies._pass import channels_last_pass
from ntknas.proxies.decorrelation import GROUP_SIZES
from ntknas.theory import kernel_ridge
from search_spaces import create_search_space, list_search_spaces
from tests.conftest import SmallCNN


def test_naswot_equals_the_hamming_kernel_logdet():
    g = torch.Generator().manual_seed(0)
    codes = torch.rand(6, 40, generator=g) > 0.5
    c = codes.double()
    k = c @ c.T + (1 - c) @ (1 - c).T
    assert naswot(codes) == pytest.approx(float(torch.logdet(k)), rel=1e-10)
    assert naswot(torch.cat([codes[:1], codes[:1]])) == -math.inf  # identical patterns


def test_activation_codes_cover_every_rectifier_and_leave_the_model_unchanged():
    torch.manual_seed(0)
    model = SmallCNN()
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(5, 3, 8, 8)
    codes = activation_codes(model, x)
    # two ReLU calls (the module is reused), each on 8 x 8 x 8 units
    assert codes.shape == (5, 2 * 8 * 8 * 8) and codes.dtype == torch.bool
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # In-place ReLU: the recorded pattern is of the input, not the rectified output.
    assert 0 < codes.float().mean() < 1


def test_activation_codes_of_a_model_without_rectifiers():
    codes = activation_codes(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), torch.randn(4, 3, 2, 2))
    assert codes.shape == (4, 0)


def test_krr_metrics_match_kernel_ridge_by_hand():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(30, 6, generator=g, dtype=torch.float64)
    labels = torch.arange(30) % 3
    feats[:, :3] += 3 * torch.nn.functional.one_hot(labels, 3)
    K = feats @ feats.T
    m = krr_metrics(K, labels, 20, ridge=1e-2)
    y = one_hot_targets(labels, 3)
    pred = kernel_ridge(K[:20, :20], y[:20], K[20:, :20], ridge=1e-2)
    assert m["krr_accuracy"] == pytest.approx(
        float((pred.argmax(1) == labels[20:]).double().mean())
    )
    assert m["krr_loss"] == pytest.approx(float(((pred - y[20:]) ** 2).sum(1).mean()))
    assert m["krr_accuracy"] > 0.8  # separable classes are learned
    nan = krr_metrics(K * float("nan"), labels, 20)
    assert math.isnan(nan["krr_accuracy"]) and math.isnan(nan["krr_loss"])
    with pytest.raises(ValueError, match="n_fit"):
        krr_metrics(K, labels, 30)


def test_kernel_target_alignment_bounds():
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    y = one_hot_targets(labels, 3)
    assert kernel_target_alignment(y @ y.T, labels) == pytest.approx(1.0)
    assert abs(kernel_target_alignment(torch.eye(6), labels)) < 1.0


def test_streamed_agreement_kernel_equals_the_code_matrix_one():
    from ntknas.proxies import activation_agreement, naswot_from_kernel

    torch.manual_seed(1)
    model = SmallCNN()
    x = torch.randn(6, 3, 8, 8)
    c = activation_codes(model, x).double()
    k = activation_agreement(model, x)
    assert torch.equal(k, c @ c.T + (1 - c) @ (1 - c).T)
    assert naswot_from_kernel(k) == pytest.approx(naswot(c.bool()), rel=1e-12)


def _correlation_min_eig_by_hand(u: torch.Tensor) -> float:
    """λmin of numpy-free Pearson correlation (torch.corrcoef) of one image's channels."""
    corr = torch.corrcoef(u.reshape(u.shape[0], -1).double())
    corr = torch.nan_to_num(corr, nan=0.0)
    return float(torch.linalg.eigvalsh(corr)[0].clamp_min(0.0))


def test_feature_decorrelation_equals_corrcoef_by_hand_and_ignores_channel_scale():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3)
    net = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    x = torch.randn(4, 3, 9, 9)
    pre = conv(x).detach()
    expected = sum(_correlation_min_eig_by_hand(pre[i]) for i in range(3)) / 3
    assert feature_decorrelation(net, x, samples=3) == pytest.approx(expected, rel=1e-6)
    with torch.no_grad():
        conv.weight[2] *= 7.0
        conv.bias[2] *= 7.0
    assert feature_decorrelation(net, x, samples=3) == pytest.approx(expected, rel=1e-6)


def test_redundant_or_constant_channels_give_zero():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3)
    with torch.no_grad():
        conv.weight[1] = 2 * conv.weight[0]
        conv.bias[1] = 2 * conv.bias[0]
    x = torch.randn(2, 3, 8, 8)
    net = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 2))
    assert feature_decorrelation(net, x) == 0.0
    with torch.no_grad():
        conv.weight[1] = 0.0
    assert feature_decorrelation(net, x) == 0.0
    # More features than inputs: 8 token features spanned by 6 input dimensions are dependent.
    tokens = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Flatten(), nn.Linear(12 * 8, 3))
    for seed in range(20):
        x = torch.randn(2, 12, 6, generator=torch.Generator().manual_seed(seed))
        assert feature_decorrelation(tokens, x) == 0.0


@pytest.mark.parametrize(
    "net, x",
    [
        # Fewer hidden features than inputs: wider layers would make the features entering the
        # rectifier linearly dependent (λmin exactly 0, its float value noise).
        (
            nn.Sequential(nn.Linear(6, 4), nn.GELU(), nn.Linear(4, 3)),
            torch.randn(20, 6, generator=torch.Generator().manual_seed(1)),
        ),
        (
            nn.Sequential(nn.Linear(6, 4), nn.GELU(), nn.Flatten(), nn.Linear(12 * 4, 3)),
            torch.randn(2, 12, 6, generator=torch.Generator().manual_seed(2)),
        ),
        (SmallCNN(), torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(3))),
    ],
    ids=["features", "tokens", "cnn-batchnorm"],
)
def test_rectifier_signals_share_one_pass_and_leave_the_model_unchanged(net, x):
    torch.manual_seed(0)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    signals = rectifier_signals(net, x)
    assert signals["naswot"] == pytest.approx(naswot_from_kernel(activation_agreement(net, x)))
    assert (
        0.0
        < signals["feature_decorrelation"]
        <= sum(isinstance(m, RECTIFIERS) for m in net.modules())
    )
    assert not net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_cosine_lambda_min_is_scale_free_and_flags_dependence():
    from ntknas.spectral import cosine_lambda_min

    g = torch.randn(5, 40, dtype=torch.float64)
    K = g @ g.T
    scale = torch.diag(torch.tensor([1.0, 10.0, 0.1, 3.0, 7.0], dtype=torch.float64))
    assert abs(cosine_lambda_min(K) - cosine_lambda_min(scale @ K @ scale)) < 1e-10
    assert 0.0 < cosine_lambda_min(K) < 1.0
    g[4] = 2.0 * g[0] - g[1]  # linearly dependent gradients
    assert cosine_lambda_min(g @ g.T) < 1e-10
    g[3] = 0.0  # a sample with no gradient
    assert cosine_lambda_min(g @ g.T) == 0.0


def test_layer_gradient_decorrelation_sums_weight_layers_of_the_probe_block():
    from ntknas import layerwise_ntk
    from ntknas.proxies import layer_gradient_decorrelation
    from ntknas.spectral import cosine_lambda_min

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)
    )
    x = torch.randn(6, 3, 8, 8)
    layers = layerwise_ntk(model, x)
    assert set(layers) == {"0", "1", "4"}
    expected = cosine_lambda_min(layers["0"][:4, :4]) + cosine_lambda_min(layers["4"][:4, :4])
    got = layer_gradient_decorrelation(layers, model, size=4)
    assert got == pytest.approx(expected, rel=1e-12)  # BatchNorm's own kernel is left out
    assert 0.0 < got <= 2.0


def _output_gradients_by_hand(model: nn.Module, x: torch.Tensor, bn: str) -> list[torch.Tensor]:
    """∂(Σ logits)/∂(output) of every convolution, from plain autograd on the whole batch; for
    ``bn="frozen"`` each BatchNorm normalizes with its batch statistics detached."""
    model = copy.deepcopy(model)
    model.train(bn != "eval")
    if bn == "frozen":

        def frozen(self, u):
            dims = [0, *range(2, u.dim())]
            mean = u.detach().mean(dims)
            var = u.detach().var(dims, unbiased=False)
            return nn.functional.batch_norm(
                u, mean, var, self.weight, self.bias, False, 0.0, self.eps
            )

        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.forward = types.MethodType(frozen, m)
    outputs = []

    def keep(_m, _inputs, out):
        out.retain_grad()
        outputs.append(out)

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(keep)
    model(x).sum().backward()
    return [o.grad for o in outputs]


class SharedNorm(nn.Module):
    """One BatchNorm called twice per forward, on different inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.conv3 = nn.Conv2d(6, 6, 1)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv1(x)))
        x = torch.relu(self.bn(self.conv2(x)))
        return self.fc(self.conv3(x).mean((2, 3)))


@pytest.mark.parametrize("bn", ["frozen", "eval", "batch"])
@pytest.mark.parametrize("net", [SmallCNN, SharedNorm])
def test_backward_decorrelation_equals_the_output_gradients_by_hand(bn, net):
    """BatchNorm (also one called twice), in-place ReLU, depthwise and grouped convolutions,
    ``out += x``: the signal is Σ over convolutions of the mean over the first images of λmin
    of corrcoef(δ_i)."""
    torch.manual_seed(0)
    model = net()
    with torch.no_grad():  # running statistics away from (0, 1), so eval differs from frozen
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(10, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    grads = _output_gradients_by_hand(model, x, bn)
    assert len(grads) == 3
    expected = sum(sum(_correlation_min_eig_by_hand(g[i]) for i in range(4)) / 4 for g in grads)
    assert expected > 0.5
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    got = backward_decorrelation(model, x, bn=bn, samples=4)
    assert got == pytest.approx(expected, rel=1e-5)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_backward_decorrelation_flags_redundant_or_dead_gradient_channels():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3)
    head = nn.Linear(4 * 36, 2)
    net = nn.Sequential(conv, nn.Flatten(), head)
    x = torch.randn(3, 3, 8, 8)
    assert backward_decorrelation(net, x) > 0.0
    with torch.no_grad():  # channel 1 gets twice channel 0's gradient: dependent
        w = head.weight.view(2, 4, 36)
        w[:, 1] = 2 * w[:, 0]
    assert backward_decorrelation(net, x) == 0.0
    with torch.no_grad():  # channel 1 gets no gradient at all: dead
        head.weight.view(2, 4, 36)[:, 1] = 0.0
    assert backward_decorrelation(net, x) == 0.0


def test_probe_signals_share_the_forward_and_match_the_separate_signals():
    torch.manual_seed(0)
    model = SmallCNN()
    x = torch.randn(12, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    signals = probe_signals(model, x)
    assert signals.keys() == {
        "naswot",
        "feature_decorrelation",
        "backward_decorrelation",
        "feature_effective_dimension",
        "backward_effective_dimension",
        *(f"{f}_group{s}_decorrelation" for f in ("feature", "backward") for s in GROUP_SIZES),
    }
    for name in ("feature_effective_dimension", "backward_effective_dimension"):
        alone = probe_signals(model, x, signals={name})
        assert alone[name] == pytest.approx(signals[name], rel=1e-9)
    for size in ("16", "32", "_all"):  # the other readings: each its own signal, one pass
        alone = probe_signals(model, x, signals={f"feature_group{size}_decorrelation"})
        assert alone[f"feature_group{size}_decorrelation"] == pytest.approx(
            signals[f"feature_group{size}_decorrelation"], rel=1e-9
        )
    separate = rectifier_signals(model, x)
    assert signals["naswot"] == separate["naswot"]
    assert signals["feature_decorrelation"] == separate["feature_decorrelation"]
    assert signals["backward_decorrelation"] == pytest.approx(
        backward_decorrelation(model, x), rel=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [({"bn": "train"}, "unknown bn mode 'train'"), ({"samples": 0}, "samples must be")],
)
def test_backward_decorrelation_rejects_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        backward_decorrelation(SmallCNN(), torch.randn(2, 3, 8, 8), **kwargs)


def test_wide_layers_read_exactly_zero_without_an_eigendecomposition(monkeypatch):
    from ntknas.proxies import decorrelation as proxies

    # 64 channels over 8x8 = 64 positions: centred, the rank is at most 63 < 64
    wide = torch.randn(2, 64, 8, 8)
    narrow = torch.randn(2, 16, 8, 8)
    called = []
    real = torch.linalg.eigvalsh
    monkeypatch.setattr(torch.linalg, "eigvalsh", lambda m: called.append(m.shape) or real(m))
    assert proxies.channel_correlation_min_eig(wide, 2) == 0.0
    assert called == []  # answered from the rank bound alone
    assert proxies.channel_correlation_min_eig(narrow, 2) > 0.0
    assert called == [(2, 16, 16)]
    # the shortcut gives what the eigendecomposition gives
    centred = wide.reshape(2, 64, -1).double()
    centred = centred - centred.mean(-1, keepdim=True)
    unit = centred / centred.norm(dim=-1, keepdim=True)
    assert real(unit @ unit.transpose(1, 2))[:, 0].abs().max() < 1e-12


def test_synflow_matches_a_hand_computed_network_and_leaves_the_model_alone():
    from ntknas.proxies import SYNFLOW_OF_ZERO, synflow

    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0], [-1.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -1.0, 2.0]))
        net[2].weight.copy_(torch.tensor([[-1.0, 2.0, 0.5]]))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    # |W1| 1 + |b1| = [3, 1.5, 4]; R = |W2| · that = 3 + 3 + 2 = 8 (ReLU passes positives).
    # Σ|θ ∂R/∂θ| = layer 2: 8; W1: Σ_j |w2_j| Σ_i |W1_ji| = 1*3 + 2*0.5 + 0.5*2 = 5;
    # b1: Σ_j |w2_j| |b1_j| = 0 + 2 + 1 = 3. Total 16.
    assert synflow(net, (2,)) == pytest.approx(math.log(16.0))
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
    dead = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Linear(3, 1, bias=False))
    nn.init.zeros_(dead[0].weight)
    assert synflow(dead, (2,)) == SYNFLOW_OF_ZERO


def test_synflow_ignores_batchnorm_batch_statistics():
    from ntknas.proxies import synflow

    # train-mode BatchNorm on one all-ones image would zero every feature; synflow uses the
    # running statistics instead, so the value is finite and the conv path counts
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2)
    )
    net(torch.zeros(2, 3, 6, 6))
    net.train()
    assert synflow(net, (3, 6, 6)) > math.log(1.0) and net.training


# --- group decorrelation: defined for any ratio of channels to positions -----------------------


def _group(u: torch.Tensor, layer: int = 0, group: tuple[int, int] = (8, 1)) -> float:
    from ntknas.proxies.decorrelation import _group_correlation_min_eig

    return _group_correlation_min_eig(u, 8, layer, *group)


GROUPS = pytest.mark.parametrize("group", GROUP_SIZES.values(), ids=lambda g: f"groups-of-{g[0]}")


@GROUPS
@pytest.mark.parametrize(
    "shape",
    [
        (8, 64, 8, 8),  # NB201's last stage: 64 channels at 8x8
        (8, 256, 4, 4),  # NAS-Bench-Macro's last stage
        (8, 1536, 4, 4),  # a wide inverted-residual expansion (k5 t6)
        (4, 197, 768),  # ViT tokens: features >> tokens
        (4, 65, 3072),  # a ViT MLP's GELU input
        (16, 128),  # a hidden (B, D) layer, features over the batch
        (8, 32, 2, 2),  # fewer positions than a group: the images' positions pooled
    ],
)
def test_group_decorrelation_reads_layers_where_the_full_correlation_is_zero_by_rank(shape, group):
    from ntknas.proxies.decorrelation import channel_correlation_min_eig

    u = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    assert _group(u, group=group) > 0.05
    if len(shape) == 4 and shape[1] >= shape[2] * shape[3]:
        assert channel_correlation_min_eig(u, 8) == 0.0  # the full correlation: 0 by rank


@GROUPS
def test_group_decorrelation_is_zero_for_redundant_channels_and_deterministic(group):
    base = torch.randn(8, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    copies = base.expand(8, 64, 6, 6) * torch.arange(1, 65).view(1, 64, 1, 1)
    assert _group(copies, group=group) == 0.0
    assert _group(torch.zeros(8, 64, 6, 6), group=group) == 0.0  # dead channels
    u = torch.randn(8, 128, 8, 8, generator=torch.Generator().manual_seed(2))
    assert _group(u, 3, group) == _group(u, 3, group)
    assert _group(u, 3, group) != _group(u, 4, group)  # another layer draws other groups


@GROUPS
def test_group_decorrelation_does_not_punish_width_by_construction(group):
    # independent channels: the mean λmin of a fixed-size group does not fall as channels grow
    # (λmin of the full C×C correlation does, to exactly 0 at C >= positions); a sum over the
    # groups grows with them
    g = torch.Generator().manual_seed(3)
    narrow = _group(torch.randn(8, group[0], 8, 8, generator=g), group=group)
    wide = _group(torch.randn(8, 1024, 8, 8, generator=g), group=group)
    groups = 1024 // group[0] if group.sum_over else 1
    assert wide / groups == pytest.approx(narrow, rel=0.15)


SUMMED = [suffix for suffix, reading in GROUP_SIZES.items() if reading.sum_over]


@pytest.mark.parametrize("suffix", SUMMED)
@pytest.mark.parametrize("shape", [(8, 203, 6, 6), (4, 65, 192), (16, 100), (8, 32, 2, 2)])
def test_summed_reading_is_the_mean_times_the_groups_and_positions(suffix, shape):
    reading = GROUP_SIZES[suffix]
    u = torch.randn(*shape, generator=torch.Generator().manual_seed(11))
    mean = _group(u, 5, reading._replace(sum_over=""))
    positions = {4: shape[-1] * shape[-2], 3: shape[1], 2: 1}[len(shape)]
    scale = (shape[-1] if len(shape) == 3 else shape[1]) // 8
    if reading.sum_over == "group_positions":
        scale *= positions
    assert _group(u, 5, reading) == pytest.approx(mean * scale, rel=1e-12)


def test_readings_sharing_their_groups_are_read_once_and_unknown_sums_are_refused():
    from ntknas.proxies.decorrelation import _group_correlation_min_eig, _group_readings

    u = torch.randn(8, 40, 5, 5, generator=torch.Generator().manual_seed(12))
    readings = {s: GROUP_SIZES[s] for s in ("_all", *SUMMED, "")}
    together = _group_readings(u, 8, 3, readings)
    for name, reading in readings.items():
        assert together[name] == _group_correlation_min_eig(u, 8, 3, *reading)
    with pytest.raises(ValueError, match="unknown sum_over 'layers'; allowed"):
        _group_correlation_min_eig(u, 8, 3, 8, 1, None, sum_over="layers")


@pytest.mark.parametrize("space_name", ["autoformer", "pit"])
def test_probe_signals_read_every_layer_of_a_vit(space_name):
    from search_spaces import create_search_space

    space = create_search_space(space_name, image_size=32)
    model = space.build(space.sample(0), num_classes=10)
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    signals = probe_signals(model, x)
    assert signals["feature_decorrelation"] == 0.0  # features >= tokens: zero by rank
    for suffix in GROUP_SIZES:
        assert signals[f"feature_group{suffix}_decorrelation"] > 0.0
        assert signals[f"backward_group{suffix}_decorrelation"] > 0.0
    assert signals["feature_effective_dimension"] > 0.0
    assert signals["backward_effective_dimension"] > 0.0


def test_recorded_batch_statistics_are_the_batch_statistics_and_the_model_is_unchanged():
    from ntknas.proxies._pass import _rectifier_pass

    torch.manual_seed(0)
    model = SmallCNN()
    named = {n: m for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    norms = list(named.values())
    norms[0].momentum = None  # cumulative averaging: also restored
    inputs: dict[nn.Module, torch.Tensor] = {}
    hooks = [m.register_forward_pre_hook(lambda m, i: inputs.setdefault(m, i[0])) for m in norms]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    statistics: dict = {}
    _rectifier_pass(model, torch.randn(10, 3, 8, 8), lambda u: None, statistics)
    for h in hooks:
        h.remove()
    assert set(statistics) == set(named)
    for name, m in named.items():
        var, mean = torch.var_mean(inputs[m], [0, 2, 3], unbiased=False)
        ((got_mean, got_var),) = statistics[name]
        assert torch.allclose(got_mean, mean, rtol=1e-5, atol=1e-6)
        assert torch.allclose(got_var, var, rtol=1e-5, atol=1e-6)
    assert norms[0].momentum is None and norms[1].momentum == 0.1
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize(
    "signals",
    [
        {"naswot"},
        {"feature_group_decorrelation", "backward_group_decorrelation"},
        {"backward_decorrelation"},
    ],
)
def test_probe_signals_compute_what_is_asked_and_the_same_values(signals):
    torch.manual_seed(0)
    model = SmallCNN()
    x = torch.randn(12, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    every = probe_signals(model, x)
    some = probe_signals(model, x, signals=signals)
    assert set(some) == signals
    for name in signals:
        assert some[name] == pytest.approx(every[name], rel=1e-6), name


@pytest.mark.parametrize(
    "space_name",
    [
        pytest.param(name, marks=pytest.mark.slow) if name in ("autoformer", "pit") else name
        for name in list_search_spaces()
    ],
)
def test_channels_last_gives_the_same_signals_and_hands_the_model_back(space_name):
    space = create_search_space(space_name)
    torch.manual_seed(0)
    model = space.build(space.sample(0), num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(6, *space.input_shape, generator=torch.Generator().manual_seed(1))
    plain = probe_signals(model, x)
    fast = probe_signals(model, x, channels_last=True)
    for key, value in model.state_dict().items():
        assert value.is_contiguous() and torch.equal(value, before[key]), key
    layers = sum(isinstance(m, (nn.Conv2d, nn.Linear, *RECTIFIERS)) for m in model.modules())
    for name, value in plain.items():
        # different float32 convolution kernels: each layer's λmin agrees to ~1e-4 (measured),
        # naswot's log-determinant to a few flipped signs of near-zero activations
        assert fast[name] == pytest.approx(value, rel=1e-3, abs=1e-4 * layers), name


def test_channels_last_pass_is_a_no_op_where_it_cannot_help():
    mlp = nn.Sequential(nn.Linear(4, 3))
    x = torch.randn(2, 4)
    with channels_last_pass(mlp, x, True) as y:
        assert y is x
    conv = nn.Sequential(nn.Conv2d(3, 4, 3))
    images = torch.randn(2, 3, 5, 5)
    with channels_last_pass(conv, images, False) as y:
        assert y is images and conv[0].weight.is_contiguous()
    with pytest.raises(RuntimeError, match="boom"), channels_last_pass(conv, images, True):
        assert conv[0].weight.is_contiguous(memory_format=torch.channels_last)
        raise RuntimeError("boom")
    assert conv[0].weight.is_contiguous()  # restored on an error too


def test_feature_group_decorrelations_are_the_registered_group_signals():
    from ntknas.proxies.decorrelation import feature_group_decorrelations

    torch.manual_seed(0)
    model = SmallCNN()
    x = torch.randn(12, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    settings = [GROUP_SIZES[suffix] for suffix in GROUP_SIZES]
    studied = feature_group_decorrelations(model, x, [*settings, (8, 4)])
    registered = rectifier_signals(model, x)
    for suffix, setting in GROUP_SIZES.items():
        assert studied[setting] == registered[f"feature_group{suffix}_decorrelation"]
    assert studied[8, 4] > 0.0


def test_every_channel_reading_averages_all_groups_and_equals_the_capped_one_on_narrow_layers():
    from ntknas.proxies.decorrelation import (
        MAX_GROUPS,
        _group_correlation_min_eig,
        _mean_min_correlation_eig,
    )

    every = GROUP_SIZES["_all"]
    narrow = torch.randn(8, 8 * MAX_GROUPS, 6, 6, generator=torch.Generator().manual_seed(5))
    assert _group(narrow, 2, every) == _group(narrow, 2)  # ≤ 16 groups: the same groups
    wide = torch.randn(8, 203, 6, 6, generator=torch.Generator().manual_seed(6))
    order = torch.randperm(203, generator=torch.Generator().manual_seed(7))
    groups = order[: 25 * 8].reshape(25, 8)  # ⌊203 / 8⌋ groups, every channel but 3
    by_hand = statistics.mean(
        _mean_min_correlation_eig(wide[:, g].reshape(8, 8, 36)) for g in groups
    )
    assert _group_correlation_min_eig(wide, 8, 7, *every) == pytest.approx(by_hand, rel=1e-12)
    assert _group(wide, 7, every) != _group(wide, 7)  # the capped reading sees 16 of 25 groups


POOLED = [suffix for suffix, reading in GROUP_SIZES.items() if reading.pooled]


@pytest.mark.parametrize("suffix", POOLED)
def test_pooled_reading_is_the_correlation_of_the_variation_within_images(suffix):
    from ntknas.proxies.decorrelation import _group_correlation_min_eig

    reading = GROUP_SIZES[suffix]
    u = torch.randn(8, 40, 5, 5, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    shift = torch.randn(8, 40, 1, 1, generator=torch.Generator().manual_seed(9)) * 10
    # each image is centred on its own means: per-image offsets of each channel change nothing
    assert _group_correlation_min_eig(u + shift, 8, 2, *reading) == pytest.approx(
        _group_correlation_min_eig(u, 8, 2, *reading), rel=1e-9
    )
    # by hand: λmin of each group's correlation over the 8 images' centred positions pooled
    observations = 8 * 24
    k = min(reading.size, 40, observations // reading.headroom)
    order = torch.randperm(40, generator=torch.Generator().manual_seed(2))
    centred = (u - u.mean(dim=(2, 3), keepdim=True)).transpose(0, 1).reshape(40, -1).numpy()
    lows = [
        np.linalg.eigvalsh(np.corrcoef(centred[g.numpy()]))[0]
        for g in order[: (40 // k) * k].reshape(-1, k)
    ]
    expected = float(np.mean(lows))
    if reading.null:
        expected /= (1 - math.sqrt(k / observations)) ** 2
    assert _group_correlation_min_eig(u, 8, 2, *reading) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("suffix", [s for s in POOLED if GROUP_SIZES[s].null])
def test_null_normalized_reading_is_near_one_for_independent_channels_of_any_shape(suffix):
    shapes = [(8, 16, 32, 32), (8, 64, 8, 8), (8, 256, 4, 4), (8, 1536, 4, 4), (4, 197, 768)]
    values = [
        _group(
            torch.randn(*s, generator=torch.Generator().manual_seed(10)), group=GROUP_SIZES[suffix]
        )
        for s in shapes
    ]
    # (1 − √(k/n))² is the large-matrix edge; small groups sit a little above it (measured
    # 1.02–1.20 on these shapes), where the un-normalized λmin ranges 0.16–0.89 for groups of 8
    assert all(0.9 < v < 1.4 for v in values), values


# --- ZiCo ---------------------------------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("batches", [2, 3])
def test_zico_matches_a_numpy_reference_on_a_linear_classifier(batches):
    from ntknas.proxies import zico

    g = torch.Generator().manual_seed(0)
    net = nn.Linear(5, 3, bias=False)
    n = 5 * batches
    x, y = torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)
    w, xs, ys = net.weight.detach().double().numpy(), x.double().numpy(), y.numpy()
    grads = []
    for k in range(batches):  # the equal parts, by hand
        part = slice(5 * k, 5 * (k + 1))
        p = _softmax(xs[part] @ w.T)
        p[np.arange(5), ys[part]] -= 1.0
        grads.append(p.T @ xs[part] / 5)  # ∂ mean cross-entropy / ∂W
    grads = np.stack(grads)
    expected = math.log((np.abs(grads).mean(0) / grads.std(0)).sum())
    assert zico(net, x, y, batches=batches) == pytest.approx(expected, rel=1e-5)


def test_zico_leaves_out_weights_that_do_not_vary_and_scores_a_constant_network_last():
    from ntknas.proxies import ZICO_OF_NONE, zico, zico_terms

    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2])
    same = torch.cat([x, x]), torch.cat([y, y])  # both halves equal: no gradient varies
    assert zico_terms(net, *same) == {} and zico(net, *same) == ZICO_OF_NONE
    assert sorted(zico_terms(net, torch.randn(6, 4), torch.tensor([0, 1, 2] * 2))) == ["0", "2"]
    with pytest.raises(ValueError, match="at least 2 batches"):
        zico(net, x, y, batches=1)
    with pytest.raises(ValueError, match="3 images cannot be split into 4 batches"):
        zico(net, x, y, batches=4)
    with pytest.raises(
        ValueError, match="probe label 5 is out of range for a network with 3 logits"
    ):
        zico(net, torch.randn(4, 4), torch.tensor([0, 1, 5, 2]))


def test_zico_leaves_the_model_alone():
    from ntknas.proxies import zico

    torch.manual_seed(0)
    net = SmallCNN()
    net.eval()
    x = torch.randn(8, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    y = torch.arange(8) % 5
    before = {k: v.clone() for k, v in net.state_dict().items()}
    value = zico(net, x, y)
    assert math.isfinite(value) and not net.training
    assert all(p.grad is None for p in net.parameters())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert zico(net, x, y) == value  # deterministic: no state carried between calls


@pytest.mark.parametrize(
    "space_name",
    [
        pytest.param(name, marks=pytest.mark.slow) if name in ("autoformer", "pit") else name
        for name in list_search_spaces()
    ],
)
def test_zico_reads_every_weight_layer_a_gradient_reaches(space_name):
    from ntknas.proxies import WEIGHT_LAYERS, zico_terms

    options = {"image_size": 32} if space_name in ("autoformer", "pit") else {}
    space = create_search_space(space_name, **options)
    torch.manual_seed(0)
    model = space.build(space.sample(0), num_classes=10)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, *space.input_shape, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    terms = zico_terms(model, x, y)
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]
    loss = nn.functional.cross_entropy(model.train()(x), y)
    grads = torch.autograd.grad(loss, [m.weight for _, m in layers], allow_unused=True)
    reached = {n for (n, _), gr in zip(layers, grads) if gr is not None and gr.abs().max() > 0}
    assert reached and reached <= set(terms), sorted(reached - set(terms))
    assert all(math.isfinite(t) for t in terms.values())


# --- effective dimension: the participation ratio of a layer's channel correlation ------------


def _participation_by_numpy(u: np.ndarray, samples: int) -> float:
    if u.ndim == 2:
        x = u.T
    elif u.ndim == 3:
        x = u[:samples].reshape(-1, u.shape[-1]).T
    else:
        x = np.swapaxes(u[:samples], 0, 1).reshape(u.shape[1], -1)
    x = x[x.std(axis=1) > 0]
    eigenvalues = np.linalg.eigvalsh(np.corrcoef(x))
    return float(np.log(eigenvalues.sum() ** 2 / np.square(eigenvalues).sum()))


@pytest.mark.parametrize(
    "shape",
    [
        (8, 16, 8, 8),  # fewer channels than observations
        (8, 64, 8, 8),  # NB201's last stage
        (8, 1536, 4, 4),  # a wide inverted-residual expansion: more channels than observations
        (4, 65, 192),  # ViT tokens
        (4, 17, 300),  # tokens, more features than observations
        (16, 40),  # (B, D): features over the batch
    ],
)
def test_effective_dimension_is_the_participation_ratio_of_the_eigenvalues(shape):
    from ntknas.proxies.dimension import effective_dimension

    u = torch.randn(*shape, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    u[:, 3] = 0.0  # a dead channel (or token/feature 3 of a (B, N, D) layer) is left out
    expected = _participation_by_numpy(u.numpy(), 8)
    assert effective_dimension(u, 8) == pytest.approx(expected, rel=1e-9)
    # float32 features: the Gram matrix in float32, to what float32 guarantees
    assert effective_dimension(u.float(), 8) == pytest.approx(expected, rel=1e-4)
    assert effective_dimension(u, 8) > 1.0  # every shape reads: never 0 by rank


def test_effective_dimension_counts_directions_and_does_not_punish_width():
    from ntknas.proxies.dimension import effective_dimension, log_participation_ratio

    g = torch.Generator().manual_seed(14)
    base = torch.randn(8, 1, 6, 6, generator=g)
    copies = base.expand(8, 64, 6, 6) * torch.arange(1, 65).view(1, 64, 1, 1)
    assert effective_dimension(copies, 8) == pytest.approx(0.0, abs=1e-9)  # one direction
    assert effective_dimension(torch.zeros(8, 64, 6, 6), 8) == 0.0  # dead layer
    assert log_participation_ratio(torch.randn(4, 1, generator=g)) == 0.0  # one observation
    narrow = effective_dimension(torch.randn(8, 16, 16, 16, generator=g), 8)
    wide = effective_dimension(torch.randn(8, 256, 16, 16, generator=g), 8)
    assert wide > narrow + 2.0  # independent channels: ≈ log C, rising with width
