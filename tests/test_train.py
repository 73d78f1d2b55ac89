from __future__ import annotations

import pytest
import torch

import search_spaces
from ntknas.data import synthetic
from ntknas.train import augment, check_resolution, resize, train_short


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


def test_resolution_trains_and_tests_at_that_size_and_counts_cpu_time():
    shapes = []
    model = _model()
    model.register_forward_pre_hook(lambda m, args: shapes.append(tuple(args[0].shape[-2:])))
    r = train_short(model, synthetic(64), synthetic(32, split="test"), epochs=1, resolution=16)
    assert set(shapes) == {(16, 16)}
    assert r.cpu_seconds > 0 and r.train_images == 64


def test_resize_keeps_uint8_and_means():
    data = synthetic(4)
    small = resize(data, 8)
    assert small.images.dtype == torch.uint8 and small.images.shape == (4, 3, 8, 8)
    assert torch.allclose(
        small.images.float().mean((2, 3)), data.images.float().mean((2, 3)), atol=3.0
    )
    assert resize(data, 32) is data


def test_resolution_below_the_networks_minimum_is_refused_before_training():
    import search_spaces

    net = search_spaces.create_search_space("vit").build(
        "patch=8;depth=1;dim=32;heads=2;mlp=2.0;pool=mean"
    )
    check_resolution(net, 32)
    calls = []
    with pytest.raises(ValueError, match="resolution 16 is not a size this network takes"):
        train_short(
            net,
            synthetic(16),
            synthetic(8, split="test"),
            epochs=1,
            resolution=16,
            on_epoch=lambda *a: calls.append(a),
        )
    assert calls == []


def test_no_augmentation_feeds_the_images_unchanged():
    seen = []
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    net.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].clone()) if m.training else None
    )
    data = synthetic(8)
    train_short(net, data, synthetic(8, split="test"), epochs=1, batch_size=8, augmentation=False)
    from ntknas.data import normalize

    expected = normalize(data.images)
    assert any(
        torch.allclose(torch.sort(x.flatten(1), 0)[0], torch.sort(expected.flatten(1), 0)[0])
        for x in seen
    )


@pytest.mark.parametrize(
    "bad, message", [({"subset": 0}, "subset must be >= 1"), ({"epochs": 0}, "epochs must be >= 1")]
)
def test_bad_training_settings(bad, message):
    with pytest.raises(ValueError, match=message):
        train_short(_model(), synthetic(8), synthetic(8, split="test"), **bad)


def test_channels_last_trains_the_same_network_up_to_float_rounding():
    space = search_spaces.create_search_space("nb201", cells=1, channels=8)
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    data, test = synthetic(64), synthetic(32, split="test")
    runs, seen = [], []
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = space.build(space.parse(arch), num_classes=10)
        conv = next(
            m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] > 1
        )
        settings = dict(epochs=2, batch_size=32, augmentation=False, seed=0)
        on_epoch = lambda epoch, acc, conv=conv: seen.append(conv.weight.is_contiguous())  # noqa: E731
        runs.append(
            (
                train_short(
                    model, data, test, channels_last=channels_last, on_epoch=on_epoch, **settings
                ),
                conv,
            )
        )
    (plain, _), (nhwc, conv) = runs
    # The callback (the NTK's evolution) and the caller get the usual layout back.
    assert seen == [True] * 4 and conv.weight.is_contiguous()
    # Two SGD steps from the same start: the losses agree to float32 rounding of the convolutions.
    assert nhwc.losses[0] == pytest.approx(plain.losses[0], rel=1e-4)
