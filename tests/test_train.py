from __future__ import annotations

import pytest
import torch

import search_spaces
from ntknas.data import synthetic
from ntknas.train import augment, train_short


def _model(seed: int = 0):
    space = search_spaces.create_search_space("cnn")
    torch.manual_seed(seed)
    return space.build("stages=2;depth=1-1;width=16-16;kernel=3-3;down=stride;bn=on;act=relu")


@pytest.mark.slow
def test_short_training_learns_and_is_deterministic_on_cpu():
    train, test = synthetic(600, seed=0), synthetic(200, seed=0, split="test")
    a = train_short(_model(), train, test, epochs=3, batch_size=64, lr=0.05, seed=1)
    b = train_short(_model(), train, test, epochs=3, batch_size=64, lr=0.05, seed=1)
    assert a.epoch_accuracies == b.epoch_accuracies
    assert len(a.epoch_accuracies) == 3
    assert a.final_accuracy >= 20.0  # chance is 10%
    assert a.losses[-1] < a.losses[0]


def test_subset_and_callback():
    seen = []
    r = train_short(
        _model(),
        synthetic(300),
        synthetic(100, split="test"),
        epochs=1,
        subset=50,
        test_subset=30,
        on_epoch=lambda e, acc: seen.append((e, acc)),
    )
    assert r.train_images == 50 and r.test_images == 30
    assert seen == [(0, r.final_accuracy)]


def test_augment_crops_and_flips():
    g = torch.Generator().manual_seed(0)
    img = torch.arange(2 * 3 * 8 * 8, dtype=torch.uint8).reshape(2, 3, 8, 8)
    out = augment(img, g, padding=2)
    assert out.shape == img.shape and out.dtype == torch.uint8
    assert not torch.equal(out, img)
    no_pad = augment(img, torch.Generator().manual_seed(0), padding=0)
    for i in range(2):
        assert torch.equal(no_pad[i], img[i]) or torch.equal(no_pad[i], img[i].flip(-1))


def test_test_subset_is_not_the_first_images_of_a_sorted_set():
    from ntknas.data import ImageData

    sorted_by_class = synthetic(200, split="test")
    order = torch.argsort(sorted_by_class.labels, stable=True)
    sorted_by_class = sorted_by_class.subset(order)
    seen = []
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))

    import ntknas.train as train_module

    original = train_module.evaluate

    def spy(model, data: ImageData, **kw):
        seen.append(data.labels.clone())
        return original(model, data, **kw)

    train_module.evaluate = spy
    try:
        train_short(net, synthetic(50), sorted_by_class, epochs=1, test_subset=40)
    finally:
        train_module.evaluate = original
    assert len(torch.unique(seen[0])) >= 5  # many classes, not just the first one
