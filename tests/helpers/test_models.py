"""Models and feature extraction with seeded random weights (no downloads)."""
import contextlib

import pytest
import torch
from torch import nn

from helpers import provenance
from helpers.models import FeatureExtractor, class_index, imagenet_categories, load_model

# Output shapes at 224×224 as tabulated in the papers: Simonyan & Zisserman 2015 (VGG),
# Krizhevsky et al. 2012 (AlexNet, torchvision's 64-filter variant), Szegedy et al. 2015
# Table 1 (GoogLeNet), Iandola et al. 2016 (SqueezeNet 1.1).
PAPER_SHAPES = {
    "vgg16": {"relu1_2": (64, 224, 224), "pool1": (64, 112, 112), "relu3_3": (256, 56, 56),
              "conv4_2": (512, 28, 28), "relu5_3": (512, 14, 14), "pool5": (512, 7, 7),
              "fc6": (4096,), "fc7": (4096,), "fc8": (1000,)},
    "vgg19": {"relu1_1": (64, 224, 224), "relu2_1": (128, 112, 112), "relu3_4": (256, 56, 56),
              "relu4_2": (512, 28, 28), "relu5_4": (512, 14, 14)},
    "alexnet": {"conv1": (64, 55, 55), "pool1": (64, 27, 27), "conv2": (192, 27, 27),
                "conv5": (256, 13, 13), "pool5": (256, 6, 6), "fc7": (4096,), "fc8": (1000,)},
    "googlenet": {"conv1": (64, 112, 112), "pool1": (64, 56, 56), "conv2": (192, 56, 56),
                  "inception3a": (256, 28, 28), "inception3b": (480, 28, 28),
                  "inception4a": (512, 14, 14), "inception4c": (512, 14, 14),
                  "inception4e": (832, 14, 14), "inception5b": (1024, 7, 7), "fc": (1000,)},
    "squeezenet1_1": {"conv1": (64, 111, 111), "fire2": (128, 55, 55), "fire5": (256, 27, 27),
                      "fire9": (512, 13, 13), "conv10": (1000, 13, 13)},
}


@pytest.mark.parametrize("arch", sorted(PAPER_SHAPES))
def test_feature_shapes_at_224_match_the_papers(arch):
    layers = list(PAPER_SHAPES[arch])
    extractor = FeatureExtractor(arch, layers, weights="random")
    with torch.no_grad():
        feats = extractor(torch.rand(2, 3, 224, 224))
    assert list(feats) == layers
    for name, shape in PAPER_SHAPES[arch].items():
        assert tuple(feats[name].shape) == (2, *shape), name


@pytest.fixture(scope="module")
def vgg16_random():
    return load_model("vgg16", "random", seed=0)


def test_truncation_runs_nothing_after_the_deepest_layer(vgg16_random):
    extractor = FeatureExtractor(vgg16_random, ["relu1_2", "relu3_1"])  # relu3_1 = features.11
    kept = {name for name, _ in extractor.body.named_modules() if name.startswith("features.")}
    assert max(int(n.split(".")[1]) for n in kept) == 11
    assert not any(name.startswith(("classifier", "avgpool")) for name, _ in extractor.body.named_modules())
    called = []
    for name, module in extractor.body.named_modules():
        if name and not list(module.children()):
            module.register_forward_hook(lambda m, i, o, name=name: called.append(name))
    extractor(torch.rand(1, 3, 32, 32))
    assert called[-1] == "features.11" and len(called) == 12


def test_pre_activation_conv_output_keeps_negative_values():
    extractor = FeatureExtractor("vgg19", ["conv4_2", "relu4_2"], weights="random")
    feats = extractor(torch.rand(1, 3, 64, 64))
    assert (feats["conv4_2"] < 0).any(), "in-place ReLU overwrote conv4_2"
    assert torch.allclose(feats["relu4_2"], feats["conv4_2"].clamp_min(0))


def test_extractor_is_frozen_eval_and_passes_gradients_to_the_image(vgg16_random):
    extractor = FeatureExtractor(vgg16_random, ["relu2_2"])
    extractor.train()
    assert not extractor.training and not any(m.training for m in extractor.modules())
    assert not any(p.requires_grad for p in extractor.parameters())
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    extractor(image)["relu2_2"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_avg_pooling_replaces_max_pooling_without_touching_the_given_model(vgg16_random):
    extractor = FeatureExtractor(vgg16_random, ["pool2", "conv3_1"], pooling="avg")
    pools = [m for m in extractor.body.modules() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert pools and all(isinstance(m, nn.AvgPool2d) for m in pools)
    assert isinstance(vgg16_random.net.features[4], nn.MaxPool2d)
    assert vgg16_random.net.features[1].inplace  # the model passed in keeps its settings
    x = torch.rand(1, 3, 16, 16)
    max_feats = FeatureExtractor(vgg16_random, ["pool1"])(x)["pool1"]
    avg_feats = FeatureExtractor(vgg16_random, ["pool1"], pooling="avg")(x)["pool1"]
    assert (max_feats >= avg_feats - 1e-6).all() and not torch.allclose(max_feats, avg_feats)


def test_autocast_runs_the_network_in_bfloat16_and_returns_float32(vgg16_random):
    from helpers.devices import get_profile

    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    exact = FeatureExtractor(vgg16_random, ["relu1_2", "relu3_1"])(x)
    low = FeatureExtractor(vgg16_random, ["relu1_2", "relu3_1"],
                           autocast=get_profile("cpu", device="cpu").with_(precision="bfloat16"))(x)
    for name in exact:
        assert low[name].dtype == torch.float32
        diff = (low[name] - exact[name]).abs().max() / exact[name].abs().max()
        assert 0 < diff < 0.05  # rounded like bfloat16 (8 bits of mantissa), not a different network
    low["relu3_1"].sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.float32
    with pytest.raises(TypeError, match="autocast"):
        FeatureExtractor(vgg16_random, ["relu1_2"], autocast="bfloat16")


def test_normalisation_happens_inside(vgg16_random):
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(vgg16_random.normalize(x), (x - mean) / std)
    with torch.no_grad():
        assert torch.allclose(vgg16_random(x), vgg16_random.net((x - mean) / std))


def test_random_weights_are_seeded_marked_and_recorded():
    a = load_model("squeezenet1_1", "random", seed=3)
    b = load_model("squeezenet1_1", "random", seed=3)
    c = load_model("squeezenet1_1", "random", seed=4)
    wa, wb, wc = (m.net.features[0].weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert a.random_weights and a.weights_label == "random (seed 3)"
    assert provenance.random_weights_used()
    state = torch.get_rng_state()
    load_model("squeezenet1_1", "random", seed=5)
    assert torch.equal(state, torch.get_rng_state()), "loading must not disturb the global RNG"


def test_grading_mode_never_touches_the_network(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setattr("helpers.weights.ensure_cached", lambda *a, **k: pytest.fail("no weights in grading"))
    with pytest.warns(UserWarning, match="grading mode uses random weights"):
        assert load_model("squeezenet1_1", "imagenet").random_weights


def test_unknown_model_and_weights_name_the_valid_choices():
    with pytest.raises(ValueError, match="available: alexnet, vgg16"):
        load_model("resnet9000")
    with pytest.raises(ValueError, match="VGG19_Weights.IMAGENET1K_V1"):
        load_model("vgg19", "IMAGENET1K_V9")
    with pytest.raises(ValueError, match="only for vgg16"):
        load_model("vgg19", "caffe")
    with pytest.raises(ValueError, match="pooling"):
        FeatureExtractor("alexnet", ["conv1"], weights="random", pooling="median")
    with pytest.raises(ValueError, match=r"\[B,3,H,W\]"):
        FeatureExtractor("alexnet", ["conv1"], weights="random")(torch.rand(3, 32, 32))


def test_too_small_images_and_wrong_dtypes_get_clear_errors(vgg16_random):
    with pytest.raises(ValueError, match="1×1 image is too small for vgg16"):
        vgg16_random(torch.rand(1, 3, 1, 1))
    with pytest.raises(ValueError, match="too small for vgg16.*earlier layer"):
        FeatureExtractor(vgg16_random, ["relu5_1"])(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="divide uint8 images by 255"):
        vgg16_random(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def test_imagenet_categories_come_from_torchvision_metadata():
    cats = imagenet_categories()
    assert len(cats) == 1000 and cats[0] == "tench"
    assert cats[class_index("dalmatian")] == "dalmatian"
    assert cats[class_index("Flamingo")] == "flamingo"
    with pytest.raises(ValueError, match="several classes"):
        class_index("dog")
    with pytest.raises(ValueError, match="no class"):
        class_index("unicorn")


def test_an_extractor_follows_the_network_precision_block_and_keeps_losses_float32(vgg16_random):
    from helpers.devices import network_precision

    x = torch.rand(1, 3, 32, 32)
    ext = FeatureExtractor(vgg16_random, ["relu2_1"])
    exact = ext(x)["relu2_1"]
    with network_precision(lambda: torch.autocast("cpu", dtype=torch.bfloat16)):
        low = ext(x)["relu2_1"]
        gram = torch.einsum("bchw,bdhw->bcd", low, low)  # computed by the caller, outside the network
    assert low.dtype == torch.float32 and gram.dtype == torch.float32
    assert 0 < float((low - exact).abs().max() / exact.abs().max()) < 0.05
    assert torch.equal(ext(x)["relu2_1"], exact)  # float32 again after the block
    own = FeatureExtractor(vgg16_random, ["relu2_1"], autocast=lambda: contextlib.nullcontext())
    with network_precision(lambda: torch.autocast("cpu", dtype=torch.bfloat16)):
        assert torch.equal(own(x)["relu2_1"], exact)  # an extractor's own setting wins
