"""DeepDream's reference answers do what the lecture says, on seeded random and offline networks."""
import pytest
import torch
from solution_code import solution_namespace

from helpers import deepdream, toydata
from helpers.models import FeatureExtractor


@pytest.fixture(scope="module")
def answers():
    return solution_namespace("05_deepdream")


@pytest.fixture(scope="module")
def vgg_relu3_3():
    return FeatureExtractor("vgg16", ["relu3_3"], weights="random")


def test_a_dream_step_raises_the_objective(answers, vgg_relu3_3):
    objective, step = answers["dream_objective"], answers["dream_step"]
    feature_fn = lambda x: vgg_relu3_3(x)["relu3_3"]
    image = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    before = objective(feature_fn(image)).item()
    after = objective(feature_fn(step(feature_fn, image, 1.5 / 255))).item()
    # measured: +8.3 % for one step of 1.5/255 on this seeded network; threshold +2 %
    assert after > 1.02 * before


def test_dreaming_on_the_trained_toy_network_amplifies_its_layer(answers, trained_toynet):
    objective, step = answers["dream_objective"], answers["dream_step"]
    extractor = FeatureExtractor(trained_toynet, ["relu3"])
    feature_fn = lambda x: extractor(x)["relu3"]
    image, _ = toydata.make_dataset(1, size=48, seed=3)
    before = objective(feature_fn(image)).item()
    result = deepdream.dream(image, lambda x: step(feature_fn, x, 2 / 255), octaves=2, steps_per_octave=10,
                             jitter=4, progress=False, generator=torch.Generator().manual_seed(0),
                             score_fn=lambda x: objective(feature_fn(x)))
    after = objective(feature_fn(result.image)).item()
    # measured: the objective grows 7.3× after 2 octaves of 10 steps; threshold 3×
    assert after > 3 * before
    assert 0 <= result.image.min() and result.image.max() <= 1
    for scores in result.stage_history("score"):
        assert scores[-1] > scores[0]  # every octave climbs
