"""Gatys's normalised network (``FeatureExtractor(..., normalize_filters=True)``) with random weights."""
from __future__ import annotations

import logging

import pytest
import torch
import torchvision.models as tvm

from helpers import filter_norm
from helpers.models import FeatureExtractor, load_model

SIZE = 64   # calibration side in pixels: small, so each test stays fast
VGG19_RELUS = ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4",
               "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1", "relu5_2", "relu5_3", "relu5_4"]


@pytest.fixture(autouse=True)
def hub(tmp_path, monkeypatch):
    """A private, empty torch hub cache: the filter means are cached there."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def _extractor(layers, seed=0, **kw):
    return FeatureExtractor("vgg19", layers, weights="random", seed=seed, pooling="avg",
                            normalize_filters=True, calibration_size=SIZE, **kw)


def _vgg19_with_biases(seed):
    """A seeded random VGG-19 whose biases are not zero (torchvision initialises them to 0,
    which would hide a bias that is not rescaled)."""
    model = load_model("vgg19", "random", seed=seed)
    g = torch.Generator().manual_seed(seed)
    for m in model.net.features:
        if isinstance(m, torch.nn.Conv2d):
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return model


@pytest.mark.parametrize("seed", [0, 1])
def test_every_filter_has_mean_activation_one_on_the_calibration_set(seed):
    extractor = FeatureExtractor(_vgg19_with_biases(seed), VGG19_RELUS, pooling="avg",
                                 normalize_filters=True, calibration_size=SIZE)
    # evaluated in float64: in float32, filters that barely fire (a mean made of a few small,
    # cancelling sums) move by rounding alone
    with torch.no_grad():
        features = extractor.double()(filter_norm.calibration_images(SIZE).double())
    measured = extractor.filter_means
    assert len(measured.means) == 16
    for name, original, dead in zip(VGG19_RELUS, measured.means, measured.dead):
        means = features[name].double().mean(dim=(0, 2, 3))
        firing = original >= measured.rare_fraction * original[original > 0].median()
        assert int((~firing).sum()) == dead, name
        assert torch.allclose(means[firing], torch.ones_like(means[firing]), rtol=1e-4, atol=0), \
            f"{name}: means from {float(means[firing].min())} to {float(means[firing].max())}"
        # filters that (almost) never fire keep their own scale: factor 1
        torch.testing.assert_close(means[~firing], original[~firing], rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_each_layer_is_the_original_divided_per_channel_by_a_positive_constant(seed):
    layers = ["conv1_1", "relu1_2", "pool1", "relu2_1", "pool3", "conv4_2", "relu4_2", "relu5_1"]
    # float64; the rescaled weights keep float32 rounding (~1e-7), which channels that barely
    # fire amplify by cancellation; a wrong factor would be off by O(1)
    model = _vgg19_with_biases(seed)
    normalised = FeatureExtractor(model, layers, pooling="avg", normalize_filters=True,
                                  calibration_size=SIZE).double()
    original = FeatureExtractor(model, layers, pooling="avg").double()
    images = torch.rand(2, 3, 72, 88, generator=torch.Generator().manual_seed(seed),
                        dtype=torch.float64)  # not the calibration size
    with torch.no_grad():
        a, b = normalised(images), original(images)
    for name in layers:
        x, y = a[name].double(), b[name].double()
        # the per-channel factor y / x, read where x is clearly non-zero, is one positive constant
        ratio = torch.where(x.abs() > 1e-3 * x.abs().amax(dim=(0, 2, 3), keepdim=True), y / x,
                            torch.full_like(x, float("nan")))
        per_channel = ratio.nanmedian(dim=3).values.nanmedian(dim=2).values.nanmedian(dim=0).values
        assert (per_channel[~per_channel.isnan()] > 0).all(), name
        factor = torch.nan_to_num(per_channel, nan=1.0).view(1, -1, 1, 1)
        scale = y.abs().amax(dim=(0, 2, 3), keepdim=True).clamp_min(1e-30)
        error = ((x * factor - y).abs() / scale).amax()
        assert error < 1e-3, f"{name}: features differ from a per-channel rescaling by {float(error):.2g}"


def test_conv4_2_keeps_its_negative_values_after_rescaling():
    out = _extractor(["conv4_2"])(torch.rand(1, 3, 64, 64))["conv4_2"]
    assert (out < 0).any()


def test_means_are_cached_on_first_load_and_reused_on_the_second(hub):
    first = _extractor(["relu2_1"]).filter_means
    assert first.source == "computed" and first.path is not None and first.path.is_file()
    assert first.path.parent == hub / "filter-means"
    second = _extractor(["relu5_1"]).filter_means
    assert second.source == "cache" and second.path == first.path
    for m1, m2 in zip(first.means, second.means):
        assert torch.equal(m1, m2)


def test_changed_weights_never_reuse_old_means(tmp_path):
    first = _extractor(["relu2_1"], seed=0).filter_means
    other = _extractor(["relu2_1"], seed=1).filter_means
    assert other.source == "computed" and other.path != first.path
    assert not torch.equal(first.means[0], other.means[0])
    # a weight file edited in place: the key follows the contents, not the file name
    state = tvm.alexnet(weights=None).state_dict()
    path = tmp_path / "alexnet.pth"
    torch.save(state, path)
    kw = dict(weights=str(path), normalize_filters=True, calibration_size=SIZE)
    assert FeatureExtractor("alexnet", ["relu2"], **kw).filter_means.source == "computed"
    assert FeatureExtractor("alexnet", ["relu2"], **kw).filter_means.source == "cache"
    state["features.3.weight"] *= 2.0
    torch.save(state, path)
    assert FeatureExtractor("alexnet", ["relu2"], **kw).filter_means.source == "computed"


def test_the_pooling_is_part_of_the_key():
    avg = _extractor(["relu3_1"]).filter_means
    mx = FeatureExtractor("vgg19", ["relu3_1"], weights="random", pooling="max",
                          normalize_filters=True, calibration_size=SIZE).filter_means
    assert mx.source == "computed" and mx.path != avg.path
    assert torch.equal(avg.means[0], mx.means[0])            # before the first pooling: the same
    assert not torch.allclose(avg.means[4], mx.means[4])     # conv3_1 sees pooled input: different


def test_filters_that_never_fire_are_left_unscaled_counted_and_logged(tmp_path, caplog):
    torch.manual_seed(3)
    state = tvm.alexnet(weights=None).state_dict()
    state["features.0.bias"][5] = -1e4    # conv1 filter 5 can never be positive on [0, 1] images
    path = tmp_path / "alexnet_deadfilter.pth"
    torch.save(state, path)
    with caplog.at_level(logging.WARNING, logger="helpers.filter_norm"):
        ex = FeatureExtractor("alexnet", ["conv1", "relu1"], weights=str(path), normalize_filters=True,
                              calibration_size=SIZE)
    assert ex.filter_means.dead[0] >= 1 and float(ex.filter_means.means[0][5]) == 0.0
    assert any("never fire" in r.getMessage() for r in caplog.records)
    raw = FeatureExtractor("alexnet", ["conv1"], weights=str(path))
    image = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ex(image)["conv1"][:, 5], raw(image)["conv1"][:, 5])   # factor 1


def test_unsupported_architectures_and_fc_layers_are_refused_clearly():
    with pytest.raises(ValueError, match="vgg16, vgg19, alexnet"):
        FeatureExtractor("squeezenet1_1", ["conv1"], weights="random", normalize_filters=True)
    with pytest.raises(ValueError, match="fc7"):
        FeatureExtractor("alexnet", ["relu2", "fc7"], weights="random", normalize_filters=True)


def test_without_the_option_nothing_is_rescaled():
    ex = FeatureExtractor("alexnet", ["relu1"], weights="random")
    assert ex.filter_means is None and not ex.normalized
