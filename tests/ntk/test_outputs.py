"""Models whose output holds more than one tensor: the logits are chosen, never guessed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ntknas import empirical_ntk, layerwise_ntk
from ntknas.ntk import logits_of
from ntknas.proxies import probe_signals, synflow, zico
from ntknas.scorer import NTKScorer


class Net(nn.Module):
    """A small CNN returning its logits alone, ``(features, logits)`` (NAS-Bench-201 / AutoDL)
    or ``(logits, aux)`` (Inception / DARTS)."""

    def __init__(self, form: str = "logits") -> None:
        super().__init__()
        self.form = form
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 4)
        self.aux = nn.Linear(6, 3) if form == "logits_aux" else None

    def forward(self, x: torch.Tensor):
        features = self.pool(self.relu(self.bn(self.conv(x)))).flatten(1)
        logits = self.fc(features)
        if self.form == "features_logits":
            return features, logits
        if self.form == "logits_aux":
            return logits, self.aux(features)
        return logits


FORMS = {"features_logits": 1, "logits_aux": 0}


def twin(form: str) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    plain = Net()
    other = Net(form)
    other.load_state_dict(plain.state_dict(), strict=False)
    return plain, other


@pytest.mark.parametrize(("form", "index"), FORMS.items())
@pytest.mark.parametrize("implementation", ["func", "hooks", "autograd", "reference"])
def test_the_chosen_item_gives_the_logits_kernel(form, index, implementation):
    plain, other = twin(form)
    x = torch.randn(5, 3, 6, 6)
    expected = empirical_ntk(plain, x, implementation=implementation)
    for choice in (index, lambda out: out[index]):
        got = empirical_ntk(other, x, implementation=implementation, output=choice)
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("form", FORMS)
def test_no_choice_is_an_error_naming_the_items(form):
    _, other = twin(form)
    x = torch.randn(5, 3, 6, 6)
    message = r"tuple of 2 tensors \(0: \(\d, \d\), 1: \(\d, \d\)\); say which holds the logits"
    with pytest.raises(ValueError, match=message):
        empirical_ntk(other, x)
    with pytest.raises(ValueError, match=message):
        layerwise_ntk(other, x)
    with pytest.raises(ValueError, match=message):
        probe_signals(other, x)
    with pytest.raises(ValueError, match=message):
        synflow(other, (3, 6, 6))
    with pytest.raises(ValueError, match=message):
        zico(other, x, torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=message):
        NTKScorer(batch_size=4).score_model(other)


def test_layerwise_kernels_and_probe_signals_follow_the_choice():
    plain, other = twin("features_logits")
    x = torch.randn(5, 3, 6, 6)
    expected = layerwise_ntk(plain, x)
    got = layerwise_ntk(other, x, output=1)
    assert list(got) == list(expected)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name])
    plain, inception = twin("logits_aux")
    got = layerwise_ntk(inception, x, output=0)
    assert set(got) == set(expected) | {"aux"} and float(got["aux"].abs().max()) == 0.0
    assert probe_signals(other, x, output=1) == pytest.approx(probe_signals(plain, x))
    assert synflow(other, (3, 6, 6), output=1) == pytest.approx(synflow(plain, (3, 6, 6)))
    y = torch.tensor([0, 1, 0, 1, 0])
    assert zico(other, x, y, output=1) == pytest.approx(zico(plain, x, y))


def test_scorer_passes_the_choice_everywhere():
    plain, other = twin("features_logits")
    a = NTKScorer(batch_size=6, proxies=True).score_model(plain)
    b = NTKScorer(batch_size=6, proxies=True, output=1).score_model(other)
    for name, value in a.metrics.items():
        assert b.metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-9), name


def test_logits_of_forms():
    t = torch.zeros(2, 3)
    assert logits_of(t) is t
    assert logits_of({"logits": t, "aux": torch.ones(2, 1)}) is t
    assert logits_of({"out": t}) is t
    assert logits_of([t, "meta"]) is t
    assert logits_of({"a": t, "b": t}, "b") is t
    with pytest.raises(ValueError, match="no 'logits' key; say which holds the logits"):
        logits_of({"a": t, "b": t})
    with pytest.raises(ValueError, match="output=5 does not pick an item"):
        logits_of((t, t), 5)
    with pytest.raises(ValueError, match="output must be None, an index, a key or a callable"):
        empirical_ntk(nn.Linear(2, 2), torch.zeros(3, 2), output=1.5)
