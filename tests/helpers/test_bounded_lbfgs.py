"""The bounded L-BFGS on problems whose box-constrained minimiser is known or checkable:
bounds respected at every evaluation, KKT conditions at the end, monotone descent, and its
book-keeping inside optimize_image."""
import pytest
import torch

from helpers.bounded_lbfgs import BoundedLBFGS
from helpers.optim import optimize_image


def minimise(f, x0, iterations, lower=0.0, upper=1.0, **kw):
    """Run BoundedLBFGS on f from x0; return x, the losses after each step, and every evaluated point."""
    x = x0.clone().requires_grad_(True)
    opt = BoundedLBFGS([x], lower=lower, upper=upper, **kw)
    points = []

    def closure():
        opt.zero_grad()
        points.append(x.detach().clone())
        loss = f(x)
        loss.backward()
        return loss

    losses = [float(opt.step(closure)) for _ in range(iterations)]
    return x.detach(), losses, points, opt


def projected_gradient(f, x, lower, upper):
    """The KKT residual of min f on the box: zero exactly at a box-constrained stationary point."""
    x = x.clone().requires_grad_(True)
    f(x).backward()
    return (x.detach() - (x.detach() - x.grad).clamp(lower, upper)).abs().max()


@pytest.fixture
def quadratic():
    """A strictly convex, non-separable quadratic ½xᵀAx − bᵀx whose unconstrained minimiser lies outside [0, 1]ⁿ."""
    g = torch.Generator().manual_seed(3)
    n = 40
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    a = m @ m.T / n + 0.1 * torch.eye(n, dtype=torch.float64)
    b = 3 * torch.randn(n, generator=g, dtype=torch.float64)
    return a, b


def test_separable_problem_ends_at_the_clamped_minimiser():
    target = torch.linspace(-1.0, 2.0, 60).reshape(1, 3, 4, 5)
    x, losses, points, _ = minimise(lambda x: ((x - target) ** 2).sum(), torch.full_like(target, 0.5), 15)
    assert torch.allclose(x, target.clamp(0, 1), atol=1e-6)
    assert all(p.min() >= 0 and p.max() <= 1 for p in points)


def test_non_separable_quadratic_meets_the_kkt_conditions(quadratic):
    a, b = quadratic
    f = lambda x: 0.5 * x @ a @ x - b @ x
    unconstrained = torch.linalg.solve(a, b)
    assert ((unconstrained < 0) | (unconstrained > 1)).any()  # the bounds matter
    x, losses, points, _ = minimise(f, torch.full((40,), 0.5, dtype=torch.float64), 200)
    assert projected_gradient(f, x, 0.0, 1.0) < 1e-6
    assert all(p.min() >= 0 and p.max() <= 1 for p in points)
    # The minimiser is unique: long projected gradient descent with step 1/L reaches the same point.
    ref = torch.full((40,), 0.5, dtype=torch.float64)
    step = 1.0 / float(torch.linalg.eigvalsh(a).max())
    for _ in range(20000):
        ref = (ref - step * (a @ ref - b)).clamp(0, 1)
    assert torch.allclose(x, ref, atol=1e-5)
    assert all(later <= earlier + 1e-12 for earlier, later in zip(losses, losses[1:]))


def test_rosenbrock_in_a_box_reaches_the_corner_solution():
    # min (1 − u)² + 100 (v − u²)² on [0, 0.5]²: u sits at its upper bound, v = u² = 0.25.
    f = lambda z: (1 - z[0]) ** 2 + 100 * (z[1] - z[0] ** 2) ** 2
    x, losses, points, _ = minimise(f, torch.tensor([0.1, 0.4], dtype=torch.float64), 100, upper=0.5)
    assert torch.allclose(x, torch.tensor([0.5, 0.25], dtype=torch.float64), atol=1e-6)
    assert losses[-1] == pytest.approx(0.25, abs=1e-9)
    assert all(0 <= float(p.min()) and float(p.max()) <= 0.5 for p in points)


def test_start_outside_the_box_is_projected_first():
    x, _, points, _ = minimise(lambda x: ((x - 0.3) ** 2).sum(), torch.tensor([-2.0, 5.0, 0.7]), 5)
    assert points[0].tolist() == pytest.approx([0.0, 1.0, 0.7])
    assert torch.allclose(x, torch.full((3,), 0.3), atol=1e-6)


def test_one_evaluation_per_iteration_and_re_evaluation_when_moved():
    target = torch.linspace(0.1, 0.9, 12)
    f = lambda x: ((x - target) ** 2 * torch.linspace(1, 5, 12)).sum()
    x = torch.full((12,), 0.5, requires_grad=True)
    opt = BoundedLBFGS([x])
    closure = lambda: (opt.zero_grad(), f(x).backward(), f(x).detach())[-1]
    opt.step(closure)
    assert opt.has_point()
    before = opt.evaluations
    opt.step(closure)
    assert opt.evaluations - before == 1  # the accepted trial point carries over
    with torch.no_grad():
        x.add_(0.01)  # moved behind the optimiser's back
    assert not opt.has_point()
    before = opt.evaluations
    opt.step(closure)
    assert opt.evaluations - before >= 2  # the moved point is evaluated first
    opt.forget_point()
    assert not opt.has_point()


def test_bad_arguments_are_named():
    a, b = torch.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="exactly one tensor"):
        BoundedLBFGS([a, b])
    with pytest.raises(ValueError, match="lower < upper"):
        BoundedLBFGS([a], lower=1.0, upper=0.0)
    opt = BoundedLBFGS([a])
    with pytest.raises(RuntimeError, match="backward"):
        opt.step(lambda: (a ** 2).sum().detach())


def test_optimize_image_history_is_the_loss_of_each_step_start():
    g = torch.Generator().manual_seed(1)
    target = 1.6 * torch.rand(1, 3, 6, 6, generator=g) - 0.3  # partly outside [0, 1]
    weight = torch.rand(1, 3, 6, 6, generator=g) + 0.2
    objective = lambda x: (weight * (x - target) ** 2).sum() + 0.5 * (x[..., 1:] - x[..., :-1]).pow(2).sum()
    images = []
    init = torch.full((1, 3, 6, 6), 0.5)
    res = optimize_image(objective, init, steps=8, progress=False, callbacks=[lambda s: images.append(s.image.clone())])
    starts = [init] + images[:-1]
    expected = [float(objective(im)) for im in starts]
    assert res.history["total"] == pytest.approx(expected, rel=1e-5)
    assert res.final_loss == pytest.approx(float(objective(res.image)), rel=1e-5)
    assert res.image.min() >= 0 and res.image.max() <= 1
    assert res.evaluations <= 8 + 3  # about one evaluation per iteration, not two or more


def test_torch_lbfgs_options_are_refused_with_the_way_out():
    with pytest.raises(TypeError, match="torch.optim.LBFGS"):
        optimize_image(lambda x: (x ** 2).sum(), torch.rand(1, 3, 4, 4), steps=1, progress=False,
                       optimizer_kwargs={"line_search_fn": "strong_wolfe"})
    res = optimize_image(lambda x: ((x - 2) ** 2).sum(), torch.rand(1, 3, 4, 4), steps=5, progress=False,
                         optimizer=torch.optim.LBFGS, project=None)
    assert res.image.max() > 1.5  # unconstrained: torch's L-BFGS, no bounds


def test_a_start_where_the_loss_curves_downwards_does_not_stall():
    # f = 1e-3 Σ (−u² + u⁴) with u = x − c: at the start (u ≈ 0.05) the gradient is tiny
    # and the curvature along it negative, so a first step of the usual length gives
    # s·y < 0 and no curvature pair; the line search must lengthen the step until the pair
    # is usable, or L-BFGS creeps along by steps of 1e-4.
    n = 2000
    c = torch.linspace(-0.1, 0.1, n, dtype=torch.float64)
    f = lambda x: 1e-3 * (-(x - c) ** 2 + (x - c) ** 4).sum()
    x0 = c + 0.05 + 0.01 * torch.linspace(0, 1, n, dtype=torch.float64)
    x, losses, points, opt = minimise(f, x0, 40, lower=-1.0, upper=1.0)
    assert losses[-1] == pytest.approx(-0.25e-3 * n, rel=1e-6)  # every u at its minimiser 1/√2
    assert torch.allclose(x - c, torch.full((n,), 2 ** -0.5, dtype=torch.float64), atol=1e-3)
