"""helpers.inversion: constants, start image, NaN guard and the two-stage loop (no exercise answers)."""
import math

import pytest
import torch

from helpers import inversion


def test_tv_weight_is_the_papers_normalisation():
    v = (80 / 255) / 6.5
    assert math.isclose(inversion.TYPICAL_VARIATION, v)
    assert math.isclose(inversion.tv_weight(128, 96, 2.0), 1 / (128 * 96 * v ** 2))
    assert math.isclose(inversion.tv_weight(64, 64, 1.0, strength=3.0), 3 / (64 * 64 * v))
    with pytest.raises(ValueError):
        inversion.tv_weight(0, 5)
    with pytest.raises(ValueError):
        inversion.tv_weight(5, 5, beta=0.0)


@pytest.mark.parametrize("stride, pixels", [(1, 0), (2, 0), (4, 1), (8, 2), (16, 4)])
def test_jitter_is_a_quarter_of_the_stride(stride, pixels):
    assert inversion.jitter_for_stride(stride) == pixels


def test_noise_image_is_reproducible_grey_noise_in_range():
    a = inversion.noise_image((2, 3, 16, 16), seed=3)
    b = inversion.noise_image((2, 3, 16, 16), seed=3)
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert abs(a.mean().item() - 0.5) < 0.02
    assert (a - 0.5).abs().max() <= inversion.TYPICAL_PIXEL / 3 ** 0.5 + 1e-6


def test_finite_gradient_is_identity_forward_and_zeroes_nan_backward():
    x = torch.zeros(1, 1, 3, 3, requires_grad=True)
    y = inversion.finite_gradient(x)
    assert torch.equal(y, x)
    y.sqrt().sum().backward()  # d sqrt(t)/dt at 0 is inf
    assert torch.isfinite(x.grad).all() and (x.grad == 0).all()
    x2 = torch.full((4,), 4.0, requires_grad=True)
    inversion.finite_gradient(x2).sqrt().sum().backward()
    assert torch.allclose(x2.grad, torch.full((4,), 0.25))  # finite gradients pass unchanged


def _identity_features(x):
    return x


def _relative(f, t):
    return (f - t).square().sum() / t.square().sum()


def _smoothness(x, beta):
    return (x[..., 1:, :] - x[..., :-1, :]).abs().pow(beta).sum()


def test_invert_matches_pixels_and_joins_both_stages():
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    init = inversion.noise_image(target.shape, seed=1)
    before = init.clone()
    result = inversion.invert(_identity_features, target, init, loss_fn=_relative, steps=60, fine_steps=10,
                              lr=0.05, progress=False)
    assert torch.equal(init, before), "invert must not modify init"
    assert len(result.history["features"]) == 70 and result.steps_done == 70
    assert "regularizer" not in result.history
    assert _relative(result.image, target) < 0.01 * _relative(init, target)
    assert result.image.min() >= 0 and result.image.max() <= 1


def test_invert_records_the_weighted_regularizer_and_lbfgs_runs():
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    init = inversion.noise_image(target.shape, seed=1)
    result = inversion.invert(_identity_features, target, init, loss_fn=_relative, regularizer_fn=_smoothness,
                              lam=0.5, beta=1.0, steps=6, fine_steps=0, optimizer="lbfgs", jitter=3,
                              progress=False)
    assert result.steps_done == 6
    first = result.history["regularizer"][0]
    assert math.isclose(first, 0.5 * _smoothness(init, 1.0).item(), rel_tol=1e-4)
