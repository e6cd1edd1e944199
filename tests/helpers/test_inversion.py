"""helpers.inversion: constants, start image, NaN guard and the two-stage loop (no exercise answers)."""
import math

import pytest
import torch

from helpers import inversion
from helpers.optim import OptimizationResult


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


def _shift_between(plain, moved, largest):
    """The (dy, dx) with roll(plain, (dy, dx)) == moved."""
    found = [(dy, dx) for dy in range(-largest, largest + 1) for dx in range(-largest, largest + 1)
             if torch.equal(torch.roll(plain, shifts=(dy, dx), dims=(-2, -1)), moved)]
    assert len(found) == 1, found
    return found[0]


def test_lbfgs_jitters_the_feature_term_with_one_shift_per_step():
    target = torch.rand(1, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    init = inversion.noise_image(target.shape, seed=1)
    moved, plain, ends = [], [], [0]

    def features(x):
        moved.append(x.detach().clone())
        return x

    def smoothness(x, beta):
        plain.append(x.detach().clone())
        return _smoothness(x, beta)

    result = inversion.invert(features, target, init, loss_fn=_relative, regularizer_fn=smoothness, lam=0.01,
                              steps=5, fine_steps=2, optimizer="lbfgs", jitter=2, seed=0, progress=False,
                              callbacks=[lambda state: ends.append(len(moved))])
    assert result.steps_done == 7 and len(ends) == 8
    shifts = [_shift_between(p, m, 2) for p, m in zip(plain, moved)]
    per_step = [shifts[a:b] for a, b in zip(ends, ends[1:])]
    assert all(len(s) >= 2 for s in per_step)                      # the line search evaluates more than once
    assert all(len(set(s)) == 1 for s in per_step)                 # ... always with the step's one shift
    first = [s[0] for s in per_step[:5]]
    assert any(s != (0, 0) for s in first) and len(set(first)) > 1  # jittered, a new shift per step
    assert all(s[0] == (0, 0) for s in per_step[5:])               # the fine stage runs without jitter


def test_invert_returns_one_result_over_both_stages_and_callbacks_stop_it():
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    init = inversion.noise_image(target.shape, seed=1)
    result = inversion.invert(_identity_features, target, init, loss_fn=_relative, steps=6, fine_steps=3, lr=0.05,
                              jitter=1, progress=False)
    assert isinstance(result, OptimizationResult)
    assert [(s.first_step, s.steps) for s in result.stages] == [(0, 6), (6, 3)]
    assert [len(h) for h in result.stage_history("features")] == [6, 3]
    assert result.best_value == result.best_loss and not result.stopped_reason and not result.interrupted
    stopped = inversion.invert(_identity_features, target, init, loss_fn=_relative, steps=6, fine_steps=3,
                               progress=False, callbacks=[lambda s: s.step == 7])
    assert stopped.steps_done == 7 and "stopped by callback" in stopped.stopped_reason
    assert "stage 2/2" in stopped.stopped_reason
