"""The optimisation loops on analytic objectives: convergence, projection, history,
interrupts, non-finite losses, coarse to fine, and the hand-written-step loop."""
import math

import pytest
import torch
import torch.nn.functional as F

from helpers.errors import KitError
from helpers.optim import NonFiniteLossError, OptimizationResult, gradient_ascent_loop, loss_values, optimize_image
from helpers.transforms import GaussianBlur, Jitter, Roll, Shift, Transform

H = W = 12


@pytest.fixture
def target():
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, H, W, generator=g)


@pytest.fixture
def init():
    return torch.full((1, 3, H, W), 0.5)


def sq(target):
    return lambda x: ((x - target) ** 2).sum()


@pytest.mark.parametrize("optimizer, steps, lr, tol", [("lbfgs", 20, None, 1e-4), ("adam", 300, 0.05, 1e-3)])
def test_converges_to_the_known_minimiser(target, init, optimizer, steps, lr, tol):
    before = init.clone()
    res = optimize_image(sq(target), init, steps=steps, optimizer=optimizer, lr=lr, progress=False)
    assert isinstance(res, OptimizationResult)
    assert torch.equal(init, before)  # the start image is not modified
    assert (res.image - target).abs().max() < tol
    assert (res.best_image - target).abs().max() < tol
    assert res.steps_done == steps and not res.interrupted and res.stopped_reason == ""
    assert len(res.history["total"]) == steps and len(res.times) == steps
    assert res.best_loss <= min(res.history["total"])
    # Adam evaluates once per step; the bounded L-BFGS stops evaluating at a stationary point.
    assert res.evaluations >= steps if optimizer == "adam" else 1 <= res.evaluations <= 2 * steps
    assert not res.image.requires_grad and res.image.shape == (1, 3, H, W)


@pytest.mark.parametrize("optimizer, steps, lr", [("lbfgs", 20, None), ("adam", 200, 0.05)])
def test_projection_keeps_pixels_in_range(init, optimizer, steps, lr):
    outside = torch.full((1, 3, H, W), 1.5)
    outside[..., : H // 2, :] = -0.5
    res = optimize_image(sq(outside), init, steps=steps, optimizer=optimizer, lr=lr, progress=False)
    assert res.image.min() >= 0 and res.image.max() <= 1
    assert torch.allclose(res.image, outside.clamp(0, 1), atol=1e-3)
    free = optimize_image(sq(outside), init, steps=steps, optimizer=optimizer, lr=lr, project=None, progress=False)
    assert torch.allclose(free.image, outside, atol=1e-2)


def test_dict_objective_records_every_term(target, init):
    def objective(x):
        return {"content": ((x - target) ** 2).sum(), "tv": 0.1 * (x[..., 1:] - x[..., :-1]).abs().sum()}

    res = optimize_image(objective, init, steps=6, optimizer="adam", lr=0.05, progress=False)
    assert set(res.history) == {"content", "tv", "total"}
    for i in range(6):
        assert math.isclose(res.history["total"][i], res.history["content"][i] + res.history["tv"][i], rel_tol=1e-5)
    assert res.history["total"][-1] < res.history["total"][0]


def test_sgd_and_optimizer_callable(target, init):
    for opt in ("sgd", lambda params: torch.optim.SGD(params, lr=0.1), torch.optim.SGD):
        res = optimize_image(sq(target), init, steps=30, optimizer=opt, lr=0.1 if opt is torch.optim.SGD else None,
                             progress=False)
        assert (res.image - target).abs().max() < 1e-3


def test_keyboard_interrupt_from_callback_returns_best_so_far(target, init):
    k = 4

    def stop_at_k(state):
        assert state.step <= k and state.image.shape == init.shape and "total" in state.losses
        if state.step == k:
            raise KeyboardInterrupt

    res = optimize_image(sq(target), init, steps=50, optimizer="adam", lr=0.05, callbacks=[stop_at_k], progress=False)
    assert res.interrupted and res.steps_done == k
    assert "interrupt" in res.stopped_reason.lower()
    assert len(res.history["total"]) == k
    assert res.best_loss == min(res.history["total"])
    assert torch.isfinite(res.best_image).all()


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_keyboard_interrupt_from_objective(target, init, optimizer):
    k = 3
    calls = []
    lbfgs = optimizer == "lbfgs"

    def objective(x):
        # each step starts with one evaluation; interrupt at the start of step k (0-based)
        calls.append(1)
        if len(steps_started) == k + 1:
            raise KeyboardInterrupt
        return ((x - target) ** 2).sum()

    steps_started = []

    class MarkStep(Transform):
        def __call__(self, image, *, step=None, grad=None):
            if not steps_started or steps_started[-1] != step:
                steps_started.append(step)
            return image

    res = optimize_image(objective, init, steps=20, optimizer=optimizer, lr=None if lbfgs else 0.05,
                         transforms=[MarkStep()], progress=False)
    assert res.interrupted and res.steps_done == k
    assert len(res.history["total"]) == k


def test_nan_term_stops_with_a_message_naming_it(target, init):
    k = 5
    calls = {"n": 0}

    def objective(x):
        calls["n"] += 1
        style = (x ** 2).sum() * (float("nan") if calls["n"] == k + 1 else 1.0)
        return {"content": ((x - target) ** 2).sum(), "style": style}

    with pytest.warns(RuntimeWarning, match="style"):
        res = optimize_image(objective, init, steps=20, optimizer="adam", lr=0.05, progress=False)
    assert res.steps_done == k and not res.interrupted
    assert "'style'" in res.stopped_reason and "'content'" not in res.stopped_reason
    assert f"step {k + 1}" in res.stopped_reason
    assert torch.isfinite(res.image).all() and torch.isfinite(res.best_image).all()
    assert math.isfinite(res.best_loss)


def test_nan_can_raise(target, init):
    def objective(x):
        return {"content": ((x - target) ** 2).sum(), "tv": torch.tensor(float("inf"))}

    with pytest.raises(NonFiniteLossError, match="'tv'") as info:
        optimize_image(objective, init, steps=5, optimizer="adam", on_nonfinite="raise", progress=False)
    assert isinstance(info.value, KitError)
    assert info.value.result.steps_done == 0


def test_callback_can_stop_early(target, init):
    res = optimize_image(sq(target), init, steps=30, optimizer="adam", callbacks=[lambda s: s.step >= 7],
                         progress=False)
    assert res.steps_done == 7 and "callback" in res.stopped_reason and not res.interrupted


def test_coarse_to_fine_ends_at_the_final_size(target):
    sizes_seen = []

    def factory(size):
        sizes_seen.append(size)
        t = F.interpolate(target, size=size, mode="bilinear", align_corners=False)
        return lambda x: ((x - t) ** 2).sum()

    init = torch.full((1, 3, 6, 9), 0.5)
    res = optimize_image(factory, init, steps=[3, 4, 5], schedule=[6, (10, 12), 16], optimizer="lbfgs",
                         progress=False)
    assert sizes_seen == [(4, 6), (10, 12), (11, 16)]  # an int is the longest side
    assert res.image.shape == (1, 3, 11, 16) and res.best_image.shape == (1, 3, 11, 16)
    assert res.steps_done == 12 and len(res.history["total"]) == 12
    assert [(s.size, s.first_step, s.steps) for s in res.stages] == [((4, 6), 0, 3), ((10, 12), 3, 4), ((11, 16), 7, 5)]
    with pytest.raises(TypeError, match="factory"):
        optimize_image(lambda size: 1.0, init, steps=1, schedule=[4], progress=False)


def test_lbfgs_sees_one_jitter_per_step(target, init):
    draws = []

    class RecordDraw(Transform):
        def __call__(self, image, *, step=None, grad=None):
            draws.append((step, torch.rand(()).item()))
            return image

    res = optimize_image(sq(target), init, steps=4, transforms=[RecordDraw(), Jitter(1)], progress=False)
    by_step = {}
    for step, value in draws:
        by_step.setdefault(step, set()).add(value)
    assert all(len(v) == 1 for v in by_step.values())
    assert len({next(iter(v)) for v in by_step.values()}) == len(by_step)
    assert res.evaluations > res.steps_done  # the line search evaluated more than once


def test_post_step_gets_step_and_grad_and_preview_updates(target, init):
    seen = []

    class Record(Transform):
        def __call__(self, image, *, step=None, grad=None):
            seen.append((step, grad is not None and grad.shape == image.shape))
            return image

    class FakePreview:
        def __init__(self):
            self.steps = []

        def update(self, image, step=None, losses=None):
            self.steps.append(step)

    preview = FakePreview()
    optimize_image(sq(target), init, steps=6, optimizer="adam", post_step=[Record()], preview=preview,
                   preview_every=2, progress=False)
    assert seen == [(i, True) for i in range(6)]
    assert preview.steps == [2, 4, 6, 6]  # every 2 steps, then the final image


def test_objective_must_return_a_scalar(init):
    with pytest.raises(ValueError, match="sum"):
        optimize_image(lambda x: x ** 2, init, steps=1, progress=False)


def test_progress_bar_runs_headless(target, init, capsys):
    res = optimize_image(sq(target), init, steps=3, optimizer="adam", progress=True)
    assert res.steps_done == 3


# --------------------------------------------------------------------------- gradient_ascent_loop

def ascent_step(target, lr=0.1):
    def step_fn(x):
        x = x.clone().requires_grad_(True)
        score = -((x - target) ** 2).sum()
        (g,) = torch.autograd.grad(score, x)
        return x.detach() + lr * g
    return step_fn


@pytest.mark.parametrize("rolled", [False, True])
def test_ascent_loop_increases_the_score(target, init, rolled):
    if rolled:  # a translation-invariant score, so rolling does not change the problem
        target = torch.full_like(target, 0.8)
    score = lambda x: -((x - target) ** 2).sum()  # noqa: E731
    res = gradient_ascent_loop(ascent_step(target), init, 15, score_fn=score, transforms=[Roll(2)] if rolled else [],
                               post_step=[GaussianBlur(0.3, every=5)], progress=False)
    s = res.history["score"]
    assert len(s) == 15 and s[-1] > s[0] and res.maximize
    assert res.best_loss == max(s)
    assert res.image.min() >= 0 and res.image.max() <= 1


def test_ascent_loop_undoes_the_roll_exactly(init):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, H, W, generator=g)
    res = gradient_ascent_loop(lambda t: t, x, 5, transforms=[Roll(4, generator=g)], progress=False)
    assert torch.equal(res.image, x)


def test_ascent_loop_interrupt_and_nan(target, init):
    k = 3
    calls = {"n": 0}

    def interrupting(x):
        calls["n"] += 1
        if calls["n"] == k + 1:
            raise KeyboardInterrupt
        return x + 0.01

    res = gradient_ascent_loop(interrupting, init, 10, score_fn=lambda x: x.mean(), progress=False)
    assert res.interrupted and res.steps_done == k and len(res.history["score"]) == k

    calls["n"] = 0

    def blowing_up(x):
        calls["n"] += 1
        return x * float("nan") if calls["n"] == k + 1 else x + 0.01

    with pytest.warns(RuntimeWarning, match="step_fn"):
        res = gradient_ascent_loop(blowing_up, init, 10, progress=False)
    assert res.steps_done == k and f"step {k + 1}" in res.stopped_reason
    assert torch.isfinite(res.image).all()


class _RecordGrad(Transform):
    """A post-step transform that needs the gradient and records what it gets."""

    needs_grad = True

    def __init__(self):
        self.grads = []

    def __call__(self, image, *, step=None, grad=None):
        self.grads.append(grad.clone())
        return image


def test_ascent_loop_hands_contribution_rules_the_score_gradient_not_the_update(init):
    # The step adds a regulariser's pull (−2λx) to the score's gradient (w); what a
    # gradient-needing transform sees is ∇score = w alone, at the image before the step.
    w = torch.linspace(-1, 1, init.numel()).view_as(init)
    step = lambda x: x + 0.01 * (w - 2 * 0.5 * x)  # noqa: E731
    recorder = _RecordGrad()
    gradient_ascent_loop(step, init, 3, score_fn=lambda x: (w * x).sum(), post_step=[recorder], progress=False)
    assert len(recorder.grads) == 3 and all(torch.allclose(g, w) for g in recorder.grads)
    # without a score there is nothing to differentiate: the update itself
    recorder = _RecordGrad()
    start = init.clamp(0.2, 0.8)
    gradient_ascent_loop(step, start, 1, post_step=[recorder], progress=False)
    assert torch.allclose(recorder.grads[0], 0.01 * (w - start), atol=1e-6)


def test_ascent_loop_checks_its_inputs(init):
    with pytest.raises(ValueError, match="shape"):
        gradient_ascent_loop(lambda x: x[0], init, 2, progress=False)
    with pytest.raises(TypeError, match="invertible"):
        gradient_ascent_loop(lambda x: x, init, 2, transforms=[GaussianBlur(1.0)], progress=False)


def test_lbfgs_makes_progress_on_a_loss_of_tiny_scale():
    # Every gradient element (1e-8) is below torch's default tolerance_grad (1e-7), while the
    # loss (3e-5) is still well resolved in float32: L-BFGS must take its steps instead of
    # stopping as if converged.
    target = torch.full((1, 3, 64, 64), 0.7)
    objective = lambda x: 1e-8 * (x - target).pow(2).sum()
    result = optimize_image(objective, torch.full((1, 3, 64, 64), 0.2), steps=5, progress=False)
    assert result.best_loss < 0.01 * result.history["total"][0]


def test_loss_values_are_floats_in_order_with_the_total_last():
    terms = {"content": torch.tensor(1.5), "style": torch.tensor([0.25], dtype=torch.float64, requires_grad=True)}
    values = loss_values(terms, torch.tensor(1.75), "score")
    assert list(values) == ["content", "style", "score"]
    assert values == {"content": 1.5, "style": 0.25, "score": 1.75}
    assert all(type(v) is float for v in values.values())


# --------------------------------------------------------------------------- one result, one way to stop

def test_best_value_and_its_read_only_alias(target, init):
    res = optimize_image(sq(target), init, steps=5, optimizer="adam", lr=0.05, progress=False)
    assert res.best_value == res.best_loss == res.final_loss < min(res.history["total"])   # the final image is best
    with pytest.raises(AttributeError):
        res.best_loss = 0.0
    assert "best_value" in repr(res)


@pytest.mark.parametrize("loop", ["lbfgs", "adam", "ascent"])
def test_a_callback_returning_true_stops_every_image_loop_and_is_named(target, init, loop):
    seen = []

    def enough(state):
        seen.append((state.step, state.stage, state.size))
        return state.step == 3

    if loop == "ascent":
        res = gradient_ascent_loop(ascent_step(target), init, 10, score_fn=lambda x: -((x - target) ** 2).sum(),
                                   callbacks=[enough], progress=False)
    else:
        res = optimize_image(sq(target), init, steps=10, optimizer=loop, callbacks=[enough], progress=False)
    assert isinstance(res, OptimizationResult)
    assert seen == [(1, 0, (H, W)), (2, 0, (H, W)), (3, 0, (H, W))]
    assert res.steps_done == 3 and not res.interrupted
    assert res.stopped_reason == "stopped by callback enough after 3 of 10 steps"
    assert all(len(v) == 3 for v in res.history.values()) and len(res.stages) == 1


def test_step_state_builds_the_result_only_when_asked(target, init):
    results = []
    optimize_image(sq(target), init, steps=3, optimizer="adam", progress=False,
                   callbacks=[lambda s: results.append(s.result) if s.step == 2 else None])
    (partial,) = results
    assert isinstance(partial, OptimizationResult) and partial.steps_done == 2 and len(partial.history["total"]) == 2


def test_each_stage_starts_from_where_the_last_one_ended(target):
    # 40 Adam steps at 6×6, none at 12×12: the result is the coarse result upsampled, not the start
    small = F.interpolate(target, size=(6, 6), mode="bilinear", align_corners=False)
    res = optimize_image(lambda size: sq(F.interpolate(target, size=size, mode="bilinear", align_corners=False)),
                         torch.full((1, 3, 6, 6), 0.5), steps=[40, 0], schedule=[6, 12], optimizer="adam", lr=0.05,
                         progress=False)
    coarse = res.stages[0].image
    assert coarse.shape[-2:] == (6, 6) and (coarse - small).abs().max() < 0.05
    assert res.image.shape[-2:] == (12, 12)
    from helpers.images import resize
    assert torch.allclose(res.image, resize(coarse, (12, 12), clamp=False).clamp(0, 1))  # the kit's one resize
    assert res.stage_history("total") == [res.history["total"], []]


def test_the_loop_freezes_random_transforms_once_per_step_for_every_optimiser(target, init):
    class CountingJitter(Jitter):
        def __init__(self):
            super().__init__(2, generator=torch.Generator().manual_seed(0))
            self.frozen_steps = []

        def freeze(self, step=None):
            self.frozen_steps.append(step)
            return super().freeze(step)

    for optimizer in ("lbfgs", "adam", torch.optim.LBFGS):
        jitter = CountingJitter()
        res = optimize_image(sq(target), init, steps=4, optimizer=optimizer, transforms=[jitter], progress=False)
        assert jitter.frozen_steps[:4] == [0, 1, 2, 3], optimizer   # (+1 for the final evaluation)
        if optimizer != "adam":
            assert res.evaluations > res.steps_done + 1, optimizer   # several evaluations shared one draw


def test_the_regularizer_sees_the_image_itself_not_the_transformed_one(target, init):
    seen = {"objective": [], "regularizer": []}
    start = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(1))

    def objective(x):
        seen["objective"].append(x.detach().clone())
        return ((x - target) ** 2).sum()

    def regularizer(x):
        seen["regularizer"].append(x.detach().clone())
        return 0.1 * x.square().sum()

    res = optimize_image(objective, start, steps=3, optimizer="adam", transforms=[Shift(1, 2)],
                         regularizer=regularizer, progress=False)
    assert list(res.history) == ["objective", "regularizer", "total"]
    assert torch.equal(seen["regularizer"][0], start)                                     # the image itself
    assert torch.equal(seen["objective"][0], torch.roll(start, shifts=(1, 2), dims=(-2, -1)))  # the shifted one
    with pytest.raises(ValueError, match="both return"):
        optimize_image(lambda x: {"tv": x.sum()}, init, steps=1, regularizer=lambda x: {"tv": x.sum()},
                       progress=False)


def test_ascent_loop_runs_a_schedule_with_its_own_stage_change(init):
    sizes, moved = [], []

    def rescale(image, size):
        moved.append((tuple(image.shape[-2:]), size))
        return F.interpolate(image, size=size, mode="nearest")

    res = gradient_ascent_loop(lambda x: x + 0.01, init[..., :6, :6], [2, 3], schedule=[(3, 3), (6, 6)],
                               rescale=rescale, score_fn=lambda x: x.mean(),
                               callbacks=[lambda s: sizes.append(s.size)], progress=False)
    assert moved == [((6, 6), (3, 3)), ((3, 3), (6, 6))]
    assert sizes == [(3, 3)] * 2 + [(6, 6)] * 3
    assert [(s.size, s.first_step, s.steps) for s in res.stages] == [((3, 3), 0, 2), ((6, 6), 2, 3)]
    assert len(res.history["score"]) == 5 and res.image.shape[-2:] == (6, 6)
    assert torch.allclose(res.image, torch.full_like(res.image, 0.55))


def test_coarse_to_fine_halves_each_size_and_runs_the_coarse_stages_in_bfloat16():
    from helpers.optim import coarse_to_fine

    plan = coarse_to_fine((170, 256), steps=100, levels=3, coarse_precision="bfloat16")
    assert plan == {"schedule": [(42, 64), (85, 128), (170, 256)], "steps": [50, 50, 100],
                    "autocast": ["bfloat16", "bfloat16", None]}
    narrow = coarse_to_fine((40, 300), steps=10, coarse_steps=3, coarse_precision=None)
    assert narrow["schedule"] == [(32, 240), (40, 300)] and narrow["steps"] == [3, 10]  # aspect kept, ≥ 32 px
    tiny = coarse_to_fine((30, 90), steps=10, levels=3, coarse_precision="bfloat16")
    assert tiny == {"schedule": [(30, 90)], "steps": [10], "autocast": [None]}  # never a "coarse" size that grows
    assert coarse_to_fine((64, 64), steps=5, levels=1) == {"schedule": [(64, 64)], "steps": [5], "autocast": [None]}
    with pytest.raises(ValueError, match="coarse_precision"):
        coarse_to_fine((64, 64), steps=5, coarse_precision="float16")


def test_each_stage_runs_in_its_own_precision(target):
    from helpers.devices import network_autocast
    from helpers.optim import coarse_to_fine

    seen = []

    def factory(size):
        t = F.interpolate(target, size=size, mode="bilinear", align_corners=False)

        def objective(x):
            amp = network_autocast()
            if amp is None:
                seen.append((size, None))
            else:
                with amp():
                    seen.append((size, torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None))
            return ((x - t) ** 2).sum()
        return objective

    plan = coarse_to_fine((H, W), steps=2, coarse_steps=2, coarse_precision="bfloat16", minimum=4)
    res = optimize_image(factory, torch.full((1, 3, H // 2, W // 2), 0.5), progress=False, **plan)
    assert res.image.shape[-2:] == (H, W) and res.history["total"][-1] < res.history["total"][0]
    coarse = {dtype for size, dtype in seen if size == (H // 2, W // 2)}
    full = {dtype for size, dtype in seen if size == (H, W)}
    assert coarse == {torch.bfloat16} and full == {None}
    assert network_autocast() is None  # nothing leaks out of the loop
    with pytest.raises(ValueError, match="autocast lists 1"):
        optimize_image(factory, torch.full((1, 3, 6, 6), 0.5), steps=1, schedule=[6, 12], autocast=["bfloat16"],
                       progress=False)
