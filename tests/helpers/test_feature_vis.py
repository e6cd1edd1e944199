"""Channels as classes (helpers.feature_vis): what they return, and that a tuned channel draws its pattern."""
from __future__ import annotations

import pytest
import torch

from helpers import optim, toydata, toynet
from helpers import transforms as T
from helpers.devices import cpu_threads
from helpers.feature_vis import ChannelScores, class_selectivity, tuned_channels
from helpers.models import FeatureExtractor


def test_units_read_the_right_activations(trained_toynet):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    acts = FeatureExtractor(trained_toynet, ["relu2"])(x)["relu2"]
    h, w = acts.shape[2:]
    assert torch.allclose(ChannelScores(trained_toynet, "relu2")(x), acts[:, :, h // 2, w // 2])
    assert torch.allclose(ChannelScores(trained_toynet, "relu2", unit="mean")(x), acts.mean(dim=(2, 3)))
    assert torch.allclose(ChannelScores(trained_toynet, "relu2", unit=(1, 2))(x), acts[:, :, 1, 2])
    fc = ChannelScores(trained_toynet, "relu_fc1")(x)
    assert fc.shape == (2, 64)
    with pytest.raises(ValueError, match="outside"):
        ChannelScores(trained_toynet, "relu2", unit=(99, 0))(x)
    with pytest.raises(ValueError, match="unit must be"):
        ChannelScores(trained_toynet, "relu2", unit="corner")


def test_selectivity_finds_a_channel_built_for_one_class():
    class OneHot(torch.nn.Module):
        """Channel k fires (value 2) on images of class k, marked by their mean brightness."""

        def forward(self, images):
            k = (images.mean(dim=(1, 2, 3)) * 4).long().clamp(0, 3)
            return torch.nn.functional.one_hot(k, 4).float() * 2 + 0.1

    labels = torch.arange(4).repeat(5)
    images = (labels.float() / 4 + 0.1).view(-1, 1, 1, 1).expand(-1, 3, 4, 4)
    preferred, selectivity = class_selectivity(OneHot(), images, labels, 4)
    assert preferred.tolist() == [0, 1, 2, 3]
    assert torch.allclose(selectivity, torch.full((4,), 2.1 / ((2.1 + 3 * 0.1) / 4)))


def _climb(scores, channel, start, steps=60, pixel_step=0.01, l2=0.01):
    neutral = torch.tensor(T.NEUTRAL).view(1, 3, 1, 1)

    def step(image):
        x = image.clone().requires_grad_(True)
        objective = scores(x)[0, channel] - l2 * ((x - neutral) ** 2).sum()
        (g,) = torch.autograd.grad(objective, x)
        return image + pixel_step * g / g.pow(2).mean().sqrt().clamp_min(1e-12)

    jitter = T.Jitter(2, generator=torch.Generator().manual_seed(channel))
    return optim.gradient_ascent_loop(step, start, steps, transforms=[jitter], progress=False,
                                      score_fn=lambda im: scores(im)[0, channel])


def _tuned(toy, layer, count=4):
    scores = ChannelScores(toy, layer, unit="mean")
    x, y = toydata.make_dataset(400, 32, seed=11)
    start = T.mean_start((1, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    skip = [toynet.CLASSES.index("gradient")]          # the plain background class: no pattern to draw
    return scores, start, tuned_channels(scores, x, y, len(toynet.CLASSES), count, start=start, skip_classes=skip)


def test_a_channel_tuned_to_a_pattern_grows_that_pattern(trained_toynet):
    # relu3 channels of the toy network are tuned to its patterns: the most selective ones,
    # climbed from the mean colour, must draw images the toy classifier calls by the
    # channel's preferred pattern.
    scores, start, chosen = _tuned(trained_toynet, "relu3")
    assert len(chosen) == 4 and len({k for _, k in chosen}) == 4
    hits = 0
    for channel, pattern in chosen:
        with cpu_threads(1):
            result = _climb(scores, channel, start)
        with torch.no_grad():
            before = trained_toynet(start).softmax(1)[0, pattern].item()
            probs = trained_toynet(result.image).softmax(1)[0]
        assert result.history["score"][-1] > 2 * result.history["score"][0], "the channel's activation grows"
        assert probs[pattern].item() > before, f"channel {channel}: p({toynet.CLASSES[pattern]}) must rise"
        hits += int(probs.argmax()) == pattern
    assert hits >= 3, f"only {hits} of 4 tuned channels drew their pattern ({chosen})"


def test_shallower_channels_are_climbed_too(trained_toynet):
    # relu2 units see 8×8 pixels: less tied to one pattern, but their activation must grow.
    scores, start, chosen = _tuned(trained_toynet, "relu2", count=2)
    for channel, _ in chosen:
        with cpu_threads(1):
            result = _climb(scores, channel, start, steps=30)
        assert result.history["score"][-1] > 2 * result.history["score"][0]
