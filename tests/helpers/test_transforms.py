"""Regularising transforms: identities, exact inverses, stated fractions and factors."""
import math

import numpy as np
import pytest
import torch

from helpers.transforms import (
    NEUTRAL,
    YOSINSKI_PRESETS,
    ClipSmallContributions,
    ClipSmallValues,
    Compose,
    GaussianBlur,
    Jitter,
    L2Decay,
    Roll,
    Shift,
    Transform,
    clamp_pixels,
    freeze,
    gaussian_blur,
    gaussian_kernel1d,
    translate,
)


@pytest.fixture
def image():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 20, 24, generator=g)


# --------------------------------------------------------------------------- blur

def test_blur_sigma_zero_is_identity(image):
    assert gaussian_blur(image, 0.0) is image
    assert torch.equal(GaussianBlur(0.0)(image), image)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.0, 40.0])  # 40: kernel far wider than the image
def test_blur_keeps_constant_images_and_the_mean(image, sigma):
    const = torch.full((1, 3, 9, 7), 0.37)
    assert torch.allclose(gaussian_blur(const, sigma), const, atol=1e-6)
    out = gaussian_blur(image, sigma)
    assert out.shape == image.shape
    # Mirrored borders fold the kernel's mass back into the image, so the mean is exact.
    assert torch.allclose(out.mean(dim=(2, 3)), image.mean(dim=(2, 3)), atol=1e-5)
    assert out.std() < image.std()


def test_blur_matches_a_dense_reference_with_symmetric_borders():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, 6, 5, generator=g, dtype=torch.float64)
    sigma = 1.3
    k = gaussian_kernel1d(sigma, dtype=torch.float64).numpy()
    r = (k.size - 1) // 2
    padded = np.pad(x[0, 0].numpy(), r, mode="symmetric")  # = scipy.ndimage's "reflect"
    k2 = np.outer(k, k)
    ref = np.array([[np.sum(padded[i:i + k.size, j:j + k.size] * k2) for j in range(5)] for i in range(6)])
    assert np.allclose(gaussian_blur(x, sigma)[0, 0].numpy(), ref, atol=1e-12)


def test_blur_every_n_steps(image):
    blur = GaussianBlur(1.0, every=3)
    for step in range(7):
        out = blur(image, step=step)
        assert torch.equal(out, image) == (step % 3 != 0)
    assert torch.equal(GaussianBlur(1.0, every=0)(image, step=0), image)


# --------------------------------------------------------------------------- translation

def test_jitter_and_composed_rolls_undo_exactly(image):
    g = torch.Generator().manual_seed(4)
    both = Compose([Jitter(4, generator=g), Roll(7, generator=g)])
    moved, undo = both.apply_with_undo(image)
    assert not torch.equal(moved, image)
    assert torch.equal(undo(moved), image)


def test_jitter_shift_is_within_bounds_and_differentiable():
    g = torch.Generator().manual_seed(5)
    impulse = torch.zeros(1, 3, 15, 15)
    impulse[..., 7, 7] = 1.0
    jitter = Jitter(2, generator=g)
    seen = set()
    for _ in range(60):
        out = jitter(impulse)
        i, j = divmod(int(out[0, 0].argmax()), 15)
        assert abs(i - 7) <= 2 and abs(j - 7) <= 2
        seen.add((i, j))
    assert len(seen) > 10  # shifts really vary
    x = impulse.clone().requires_grad_(True)
    Jitter(2, mode="reflect", generator=g)(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_freezing_a_jitter_draws_one_shift_that_repeats(image):
    jitter = Jitter(5, generator=torch.Generator().manual_seed(2))
    frozen = [jitter.freeze(step=k) for k in range(20)]
    assert all(isinstance(f, Shift) and abs(f.dy) <= 5 and abs(f.dx) <= 5 for f in frozen)
    assert len({(f.dy, f.dx) for f in frozen}) > 5                   # a new draw per step
    f = frozen[0]
    assert torch.equal(f(image), f(image))                           # the same shift at every call
    assert torch.equal(f(image), translate(image, f.dy, f.dx, "roll"))
    moved, undo = f.apply_with_undo(image)
    assert torch.equal(undo(moved), image) and torch.equal(f.undo(moved), image)
    # the draws are those an unfrozen jitter makes, call by call
    a, b = Jitter(3, generator=torch.Generator().manual_seed(8)), Jitter(3, generator=torch.Generator().manual_seed(8))
    assert all(torch.equal(a(image), b.freeze()(image)) for _ in range(5))


def test_freeze_of_deterministic_transforms_and_compositions(image):
    blur = GaussianBlur(1.0)
    assert blur.freeze(3) is blur
    plain = lambda x: x * 2  # noqa: E731
    assert freeze(plain, 0) is plain and freeze(blur, 0) is blur
    both = Compose([blur, Roll(4, generator=torch.Generator().manual_seed(1))]).freeze(0)
    assert isinstance(both, Compose) and both.transforms[0] is blur and isinstance(both.transforms[1], Shift)
    assert torch.equal(both(image), both(image))
    with pytest.raises(ValueError, match="mode"):
        Shift(1, 1, mode="wrap")


def test_reflect_translation_shifts_the_interior(image):
    out = translate(image, 2, -3, mode="reflect")
    assert out.shape == image.shape
    assert torch.equal(out[..., 2:, :-3], image[..., :-2, 3:])


# --------------------------------------------------------------------------- sparsity, decay, clamp

def test_clip_small_values_resets_the_stated_fraction(image):
    pct = 25
    out = ClipSmallValues(pct)(image)
    neutral = torch.tensor(NEUTRAL).view(1, 3, 1, 1)
    h, w = image.shape[-2:]
    k = math.floor(pct / 100 * h * w)
    norms = (image - neutral).norm(dim=1)
    for b in range(image.shape[0]):
        reset = (out[b] == neutral[0]).all(dim=0)
        assert int(reset.sum()) == k
        # exactly the pixels with the smallest norms were reset
        assert norms[b][reset].max() <= norms[b][~reset].min()
        assert torch.equal(out[b][:, ~reset], image[b][:, ~reset])


def test_clip_small_values_zero_percentile_is_identity(image):
    assert torch.equal(ClipSmallValues(0)(image), image)
    with pytest.raises(ValueError):
        ClipSmallValues(101)


def contribution_rule(image, grad, percentile, fill):
    """Yosinski et al. 2015's small-contribution clipping, written here (the kit holds no copy):
    pixels with |Σ_c image·grad| below the percentile-th quantile become ``fill``."""
    c = (image * grad).sum(dim=1, keepdim=True).abs()
    fill = torch.as_tensor(fill, dtype=image.dtype)
    fill = fill.view(1, -1, 1, 1) if fill.dim() == 1 else fill
    return torch.where(c < torch.quantile(c.flatten(), percentile / 100), fill, image)


def test_clip_small_contributions_centres_the_image_and_resets_to_neutral():
    x = torch.full((1, 3, 1, 4), 0.5)
    x[0, :, 0, :] += torch.tensor([[0.1, 0.2, 0.3, 0.4]]).expand(3, 4)
    grad = torch.ones_like(x)
    grad[0, 0, 0, 3] = -10.0  # pixel 3: large contribution, negative sign
    clip = ClipSmallContributions(50, contribution_rule, neutral=0.5)
    out = clip(x, grad)
    # contributions |Σ_c (x-0.5)·g| = 0.3, 0.6, 0.9, |0.4·(-10+2)| = 3.2; the median is 0.75 → pixels 0 and 1 reset
    assert torch.allclose(out[0, :, 0, :2], torch.full((3, 2), 0.5), atol=1e-7)
    assert torch.allclose(out[0, :, 0, 2:], x[0, :, 0, 2:], atol=1e-7)
    assert torch.equal(clip(x, -grad), out)  # the sign of the gradient does not matter
    assert torch.equal(clip(x, grad=grad), out)
    with pytest.raises(ValueError, match="gradient"):
        clip(x)


def test_clip_small_contributions_calls_the_rule_per_image_with_centred_input(image):
    seen = []

    def recording_rule(img, grad, percentile, fill):
        seen.append((img.clone(), grad.clone(), percentile, fill))
        return torch.zeros_like(img)

    grad = torch.randn(image.shape, generator=torch.Generator().manual_seed(1))
    out = ClipSmallContributions(90, recording_rule)(image, grad)
    neutral = torch.tensor(NEUTRAL).view(1, 3, 1, 1)
    assert len(seen) == image.shape[0]
    for b, (img, g, pct, fill) in enumerate(seen):
        assert img.shape == (1, 3, 20, 24)
        assert torch.allclose(img, image[b:b + 1] - neutral)
        assert torch.equal(g, grad[b:b + 1]) and pct == 90 and fill == 0.0
    assert torch.allclose(out, neutral.expand_as(image))  # the rule's 0 is the neutral colour


def test_clip_small_contributions_needs_a_rule_of_the_right_shape(image):
    with pytest.raises(TypeError, match="contribution_rule"):
        ClipSmallContributions(90, None)
    bad = ClipSmallContributions(90, lambda img, grad, pct, fill: img[:, :1])
    with pytest.raises(ValueError, match="shape"):
        bad(image, torch.ones_like(image))
    assert torch.equal(ClipSmallContributions(0, contribution_rule)(image, None), image)


def test_l2_decay_shrinks_towards_neutral_by_the_factor(image):
    theta = 0.3
    out = L2Decay(theta)(image)
    neutral = torch.tensor(NEUTRAL).view(1, 3, 1, 1)
    assert torch.allclose(out - neutral, (1 - theta) * (image - neutral), atol=1e-6)
    grey = L2Decay(0.5, neutral=0.5)(image)
    assert torch.allclose(grey - 0.5, 0.5 * (image - 0.5), atol=1e-6)
    assert torch.equal(L2Decay(0.0)(image), image)


def test_clamp_pixels():
    x = torch.tensor([-0.5, 0.2, 1.7])
    assert torch.equal(clamp_pixels(x), torch.tensor([0.0, 0.2, 1.0]))


# --------------------------------------------------------------------------- composition

def test_compose_applies_in_order_and_passes_step():
    x = torch.full((1, 3, 4, 4), 0.2)
    halve = L2Decay(0.5, neutral=0.0)
    add = lambda t: t + 1  # noqa: E731 - a plain callable is accepted too
    assert torch.allclose(Compose([halve, add])(x), torch.full_like(x, 1.1))
    assert torch.allclose(Compose([add, halve])(x), torch.full_like(x, 0.6))

    class Record(Transform):
        def __init__(self):
            self.calls = []

        def __call__(self, image, *, step=None, grad=None):
            self.calls.append((step, grad is not None))
            return image

    rec = Record()
    Compose([rec, add])(x, step=4, grad=torch.zeros_like(x))
    assert rec.calls == [(4, True)]


def test_compose_refuses_undo_for_non_invertible():
    with pytest.raises(TypeError, match="cannot be undone"):
        Compose([Roll(2), GaussianBlur(1.0)]).apply_with_undo(torch.zeros(1, 3, 4, 4))


# --------------------------------------------------------------------------- presets

def test_yosinski_presets_are_table_1():
    rows = list(YOSINSKI_PRESETS.values())
    assert len(rows) == 4
    assert [(p.decay, p.blur_every, p.blur_sigma, p.norm_percentile, p.contribution_percentile) for p in rows] == [
        (0.0, 4, 0.5, 50, 0),
        (0.3, 0, 0.0, 20, 0),
        (0.0001, 4, 1.0, 0, 0),
        (0.0, 4, 0.5, 0, 90),
    ]
    smooth = YOSINSKI_PRESETS["smooth_blur"]
    assert [type(t) for t in smooth.post_step()] == [L2Decay, GaussianBlur]
    sparse = YOSINSKI_PRESETS["contribution_sparse"]
    assert ([type(t) for t in sparse.post_step(contribution_rule=contribution_rule)]
            == [GaussianBlur, ClipSmallContributions])
    with pytest.raises(ValueError, match="contribution_rule"):
        sparse.post_step()
    assert math.isclose(smooth.pixel_learning_rate, 100.0 / 255**2)
