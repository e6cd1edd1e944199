"""Fooling images (helpers.fooling): CS231n's normalised ascent, stopped at the first fooled image."""
from __future__ import annotations

import pytest
import torch

from helpers import fooling, references, toydata
from helpers.devices import cpu_threads


@pytest.fixture(scope="module")
def toy_batch(trained_toynet):
    x, y = toydata.make_dataset(6, 32, seed=7)
    with torch.no_grad():
        right = trained_toynet(x).argmax(1) == y
    return x[right][:3], y[right][:3]


def test_reaches_the_target_class_on_the_toy_network_and_stops_there(trained_toynet, toy_batch):
    x, y = toy_batch
    assert len(x) == 3, "test set-up: three correctly classified images"
    classes = trained_toynet(x[:1]).shape[1]
    for image, label in zip(x, y):
        target = (int(label) + 3) % classes
        before = image.clone()
        with cpu_threads(1):
            result = fooling.fooling_image(trained_toynet, image[None], target, pixel_step=0.01, max_steps=300)
        with torch.no_grad():
            assert int(trained_toynet(result.image).argmax(1)) == target, result.stopped_reason
        margins = result.history["score"]
        assert margins[-1] > 0 and all(m <= 0 for m in margins[:-1]), "stops at the first fooled image"
        assert "reached_target" in result.stopped_reason and result.steps_done == len(margins)
        assert fooling.reached_target(result)
        assert result.best_value == margins[-1]   # keep_best is off: the value of the last image
        assert torch.equal(image, before), "the photo is not modified"
        assert result.image.min() >= 0 and result.image.max() <= 1
        change = (result.image - image[None]).abs()
        assert 0 < change.max() < 0.5, "a real but small change"


def test_each_step_moves_the_image_by_the_pixel_step(trained_toynet, toy_batch):
    x, y = toy_batch
    image = x[:1].clamp(0.1, 0.9)          # away from the clamp, so the step is exactly the normalised one
    step = fooling._normalised_step(trained_toynet, (int(y[0]) + 1) % 8, 0.003)
    moved = step(image)
    rms = (moved - image).pow(2).mean().sqrt()
    assert abs(float(rms) - 0.003) < 1e-6
    g_image = image.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(trained_toynet(g_image)[0, (int(y[0]) + 1) % 8], g_image)   # no parameter grads
    assert torch.nn.functional.cosine_similarity((moved - image).flatten(), grad.flatten(), dim=0) > 0.9999


def test_already_the_target_takes_no_step_and_a_dead_score_gives_up(trained_toynet, toy_batch):
    x, y = toy_batch
    result = fooling.fooling_image(trained_toynet, x[:1], int(y[0]))
    assert result.steps_done == 0 and torch.equal(result.image, x[:1]) and fooling.reached_target(result)

    class Dead(torch.nn.Module):
        def forward(self, images):
            return torch.stack([images.sum(dim=(1, 2, 3)) * 0.0, torch.ones(len(images))], dim=1)

    result = fooling.fooling_image(Dead(), x[:1], 0, max_steps=5)
    assert result.steps_done == 5 and result.stopped_reason == "" and torch.equal(result.image, x[:1])
    assert not fooling.reached_target(result)
    with pytest.raises(ValueError, match=r"\[1, 3, H, W\]"):
        fooling.fooling_image(trained_toynet, x[:2], 0)


def test_pixel_step_is_cs231n_learning_rate_converted():
    # CS231n: one step has L2 norm lr = 1 on the normalised 224×224 image (x − μ)/σ. With one σ̄
    # for all channels that is lr·σ̄ in pixels, spread over 3·224² values.
    sigma_bar = references.IMAGENET_STD_EFFECTIVE
    g = torch.Generator().manual_seed(0)
    direction = torch.randn(1, 3, 224, 224, generator=g, dtype=torch.float64)
    normalised_step = 1.0 * direction / direction.norm()          # in (x − μ)/σ̄ units
    pixel_step = normalised_step * sigma_bar
    rms = pixel_step.pow(2).mean().sqrt().item()
    assert abs(rms - fooling.FOOLING_PIXEL_STEP) < 1e-12
    assert abs(fooling.FOOLING_PIXEL_STEP - 0.000582) < 1e-6
    assert fooling.FOOLING_MAX_STEPS == 100
