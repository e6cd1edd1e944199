"""Style transfer with the reference answers lowers its objective and keeps pixels in range."""
import pytest
import torch
from solution_code import solution_namespace

from helpers import images
from helpers.models import FeatureExtractor
from helpers.optim import optimize_image

STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1"]


@pytest.fixture(scope="module")
def answers():
    return solution_namespace("07_style_transfer")


def _gram(f):
    b, c, h, w = f.shape
    x = f.reshape(b, c, h * w)
    return x @ x.transpose(1, 2)


def test_transfer_lowers_the_total_loss_and_stays_in_range(answers):
    content_loss, style_loss, tv_loss = answers["content_loss"], answers["texture_loss"], answers["tv_loss"]
    extractor = FeatureExtractor("vgg19", ["relu2_2"] + STYLE_LAYERS, weights="random", pooling="avg")
    content = images.load_image("chelsea", size=48)
    style = images.load_image("ihc", size=48)
    with torch.no_grad():
        target = extractor(content)["relu2_2"]
        grams = [_gram(extractor(style)[l]) for l in STYLE_LAYERS]

    def objective(x):
        f = extractor(x)
        return {"content": content_loss(f["relu2_2"], target),
                "style": 1e5 * style_loss([f[l] for l in STYLE_LAYERS], grams, [1 / 3] * 3),
                "tv": 1e-2 * tv_loss(x)}

    result = optimize_image(objective, torch.rand(content.shape, generator=torch.Generator().manual_seed(0)),
                            steps=15, progress=False)
    start, end = result.history["total"][0], result.best_loss
    # measured: the total falls from 153 to 102 (0.66 of its start) in 15 L-BFGS steps; threshold 0.8
    assert end < 0.8 * start
    assert 0 <= result.best_image.min() and result.best_image.max() <= 1


def test_style_loss_is_zero_at_the_style_image_and_grows_with_distance(answers):
    style_loss = answers["texture_loss"]
    extractor = FeatureExtractor("vgg19", STYLE_LAYERS, weights="random", pooling="avg")
    style = images.load_image("ihc", size=40)
    with torch.no_grad():
        f = extractor(style)
        grams = [_gram(f[l]) for l in STYLE_LAYERS]
        at_style = style_loss([f[l] for l in STYLE_LAYERS], grams, [1.0] * 3)
        noisy = [style_loss([extractor((style + s * torch.randn_like(style)).clamp(0, 1))[l] for l in STYLE_LAYERS],
                            grams, [1.0] * 3) for s in (0.05, 0.3)]
    assert at_style.abs() < 1e-12
    assert 0 < noisy[0] < noisy[1]
