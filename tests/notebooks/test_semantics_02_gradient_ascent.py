"""What the reference answers of notebook 02 do on the trained offline toy classifier.

Saliency (Simonyan et al. 2014), guided backprop (Springenberg et al. 2015, the notebook's
``guided_relu_backward`` run by ``helpers.guided_backprop``), class visualisation by
gradient ascent and clipping pixels with small contribution (Yosinski et al. 2015) are
checked on ``helpers.toynet``: the toy images carry
a mask of the textured region that decides the class, so "the map points at the
pattern, not the background" is a measurable property. Thresholds were measured on
this project's toy network (seed 0) for data seeds 11–13 and are written next to each
assert as "measured … → threshold".
"""
from __future__ import annotations

import pytest
import torch
from solution_code import solution_namespace

from helpers import optim, toydata, toynet
from helpers.guided_backprop import GuidedReLU, guided_relu

N_IMAGES, SIZE, DATA_SEED = 160, 32, 11


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The toy network is tiny: one thread is fastest and never waits for a busy core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def answers():
    return solution_namespace("02_gradient_ascent")


@pytest.fixture(scope="module")
def toy_batch():
    return toydata.make_dataset(N_IMAGES, SIZE, seed=DATA_SEED, return_masks=True)


def _inside_outside(maps, masks):
    """(per-image ratios [B], pooled ratio) of mean saliency inside the mask over outside."""
    inside = (maps * masks).sum((1, 2)) / masks.sum((1, 2))
    outside = (maps * ~masks).sum((1, 2)) / (~masks).sum((1, 2))
    pooled = (maps * masks).sum() / masks.sum() / ((maps * ~masks).sum() / (~masks).sum())
    return inside / outside, float(pooled)


def test_saliency_is_nonnegative_with_the_right_shape(answers, trained_toynet, toy_batch):
    images, labels, _ = toy_batch
    maps = answers["saliency_map"](trained_toynet, images, labels)
    assert maps.shape == (N_IMAGES, SIZE, SIZE)
    assert bool((maps >= 0).all())
    assert float(maps.amax()) > 0  # not an all-zero map


def test_saliency_highlights_the_pattern_not_the_background(answers, trained_toynet, toy_batch):
    images, labels, masks = toy_batch
    per_image, pooled = _inside_outside(answers["saliency_map"](trained_toynet, images, labels), masks)
    assert pooled > 2.5, pooled                                   # measured 3.28–3.43 → 2.5
    assert float(per_image.median()) > 2.5, per_image.median()    # measured 3.55–3.60 → 2.5
    assert float((per_image > 1.5).float().mean()) >= 0.9         # measured 0.975–0.981 → 0.9


def test_saliency_of_the_trained_network_beats_a_random_one(answers, trained_toynet, toy_batch):
    images, labels, masks = toy_batch
    _, trained = _inside_outside(answers["saliency_map"](trained_toynet, images, labels), masks)
    _, random = _inside_outside(answers["saliency_map"](toynet.random_toynet(0), images, labels), masks)
    # measured: trained 3.28–3.43, random 1.60–1.71, i.e. a factor 1.9–2.1 → 1.5
    assert trained > 1.5 * random, (trained, random)


def test_guided_saliency_is_sharper_and_differs_from_plain(answers, trained_toynet, toy_batch):
    images, labels, masks = toy_batch
    plain = answers["saliency_map"](trained_toynet, images, labels)
    with guided_relu(trained_toynet, answers["guided_relu_backward"]):
        guided = answers["saliency_map"](trained_toynet, images, labels)
    _, plain_ratio = _inside_outside(plain, masks)
    _, guided_ratio = _inside_outside(guided, masks)
    assert guided_ratio > 5.0, guided_ratio                       # measured 7.02–7.31 → 5.0
    assert guided_ratio > plain_ratio
    assert not any(isinstance(m, GuidedReLU) for m in trained_toynet.modules()), "ReLUs were not restored"


def _relu_input_gradients(model, images, labels, relu_type):
    """Gradient of the summed label scores w.r.t. the image and w.r.t. the input of every ReLU."""
    x = images.clone().requires_grad_(True)
    inputs = []
    hooks = [m.register_forward_pre_hook(lambda _m, args: inputs.append(args[0]))
             for m in model.modules() if isinstance(m, relu_type)]
    try:
        score = model(x).gather(1, labels.view(-1, 1)).sum()
    finally:
        for h in hooks:
            h.remove()
    grads = torch.autograd.grad(score, [x] + inputs)
    return grads[0], grads[1:]


def test_guided_gradients_are_nonnegative_at_every_relu_and_differ_from_plain(answers, trained_toynet, toy_batch):
    images, labels, _ = toy_batch
    images, labels = images[:16], labels[:16]
    plain_image, plain_relu = _relu_input_gradients(trained_toynet, images, labels, torch.nn.ReLU)
    with guided_relu(trained_toynet, answers["guided_relu_backward"]):
        with torch.no_grad():
            same = torch.allclose(trained_toynet(images), trained_toynet.net(trained_toynet.normalize(images)))
        guided_image, guided_relu_grads = _relu_input_gradients(trained_toynet, images, labels, GuidedReLU)
    assert same
    assert len(guided_relu_grads) == len(plain_relu) == 4
    # Guided backprop passes only positive gradients through every ReLU: exactly >= 0 there.
    assert all(bool((g >= 0).all()) for g in guided_relu_grads)
    # Plain backprop does send negative gradients through (measured 0.8–18.7 % per ReLU → some > 0.5 %).
    assert max(float((g < 0).float().mean()) for g in plain_relu) > 0.005
    # At the image (after conv1) guided gradients have both signs (measured 41–43 % negative),
    # and they differ a lot from plain ones (relative L2 difference measured 0.93 → 0.5).
    assert 0.05 < float((guided_image < 0).float().mean()) < 0.95
    assert float((guided_image - plain_image).norm() / plain_image.norm()) > 0.5


def test_guided_relu_leaves_predictions_unchanged(answers, trained_toynet, toy_batch):
    images = toy_batch[0][:32]
    with torch.no_grad():
        before = trained_toynet(images)
        with guided_relu(trained_toynet, answers["guided_relu_backward"]):
            during = trained_toynet(images)
    assert torch.equal(before, during)


def test_class_visualisation_reaches_every_toy_class(answers, trained_toynet):
    """Plain ascent from I = 0 (black) with the reference step inside gradient_ascent_loop.

    lr 0.1, λ = 0.01, 60 steps, no jitter, 32 px: measured p(target) > 0.99999 for all 8 classes
    (from p ≤ 0.004 at the black start, except "gradient", already 0.996 there) → 0.9.
    """
    step = answers["class_visualization_step"]
    start = torch.zeros(1, 3, SIZE, SIZE)
    with torch.no_grad():
        p_start = trained_toynet(start).softmax(dim=1)[0]
    for c, name in enumerate(toynet.CLASSES):
        result = optim.gradient_ascent_loop(
            lambda im, c=c: step(trained_toynet, im, c, 1e-2, 0.1), start, 60,
            score_fn=lambda im, c=c: trained_toynet(im)[0, c], progress=False)
        assert result.image.min() >= 0 and result.image.max() <= 1  # the loop clamps
        with torch.no_grad():
            p = float(trained_toynet(result.image).softmax(dim=1)[0, c])
        assert p > 0.9, f"{name}: p = {p:.4f} (start {float(p_start[c]):.4f})"
        history = result.history["score"]
        assert history[-1] > history[0], f"{name}: the score did not rise ({history[0]:.3f} → {history[-1]:.3f})"


def _clip_and_random(answers, net, images, labels, percentile):
    """The notebook's small-contribution clipping (the answer inside ``ClipSmallContributions``,
    centred on the mean colour) and a reset of as many random pixels per image; returns
    (clipped, randomly reset, reset mask [B, H, W])."""
    from helpers import transforms as T

    x = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x).gather(1, labels[:, None]).sum(), x)
    clipped = T.ClipSmallContributions(percentile, answers["clip_small_contributions"], neutral=T.NEUTRAL)(images, grad)
    neutral = torch.tensor(T.NEUTRAL).view(1, 3, 1, 1)
    reset = (clipped - neutral).abs().amax(dim=1) < 1e-6
    g = torch.Generator().manual_seed(0)
    random_reset = torch.zeros_like(reset)
    for b in range(len(images)):
        random_reset[b].view(-1)[torch.randperm(reset[b].numel(), generator=g)[:int(reset[b].sum())]] = True
    randomly = torch.where(random_reset[:, None], neutral, images)
    return clipped, randomly, reset


def test_clipping_small_contributions_keeps_the_pixels_that_matter(answers, trained_toynet, toy_batch):
    images, labels, masks = (t[:32] for t in toy_batch)
    clipped, randomly, reset = _clip_and_random(answers, trained_toynet, images, labels, 50)
    assert abs(float(reset.float().mean()) - 0.5) < 0.01          # half of the pixels, measured 0.500
    with torch.no_grad():
        score = lambda im: trained_toynet(im).gather(1, labels[:, None])[:, 0]  # noqa: E731
        before = score(images)
        drop_clipped = (before - score(clipped)).abs().mean()
        drop_random = (before - score(randomly)).abs().mean()
    # First order: the pixels with small |Σ (x − μ)·g| move the score least (measured 0.53–0.62 → 0.8).
    assert drop_clipped < 0.8 * drop_random, (float(drop_clipped), float(drop_random))
    # The kept pixels lie on the pattern more often than the pattern's share of the image
    # (measured 0.63–0.65 of kept pixels inside the mask, which covers 0.46 → +0.1).
    kept_inside = float(((~reset) & masks).sum() / (~reset).sum())
    assert kept_inside > float(masks.float().mean()) + 0.1, kept_inside
