""":func:`optimize_image`: minimise an objective over the pixels of an image with a torch
optimiser (the kit's bounded L-BFGS by default), optionally coarse to fine
(:func:`coarse_to_fine`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch

from helpers.bounded_lbfgs import BoundedLBFGS
from helpers.devices import autocast_factory, network_precision
from helpers.optim.result import OptimizationResult, StepState
from helpers.optim.stages import (
    StagePlan,
    plan_stages,
    post_process,
    prepare,
    projected,
    resize_to,
    run_stages,
    stage_change,
)
from helpers.optim.tracker import LoopTracker, NonFinite, as_terms, check_values, loss_values
from helpers.transforms import Compose, apply, clamp_pixels, freeze

Tensor = torch.Tensor

DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02, "sgd": 0.1}


def _autocast_factory(autocast, device: torch.device) -> Callable[[], Any] | None:
    """One stage's ``autocast`` as a factory of a context manager, ``None`` for float32."""
    if autocast is None or autocast is False or autocast == "float32":
        return None
    if autocast is True:
        return lambda: torch.autocast(device_type=device.type)
    if autocast == "bfloat16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if hasattr(autocast, "__enter__") and not callable(getattr(autocast, "autocast", None)):
        return lambda: autocast  # a context manager object (checked first: torch.autocast is also callable)
    return autocast_factory(autocast)  # a devices.Profile or a factory


BOUNDED_LBFGS_OPTIONS = ("max_iter", "history_size", "c1", "max_backtracks")


def _torch_lbfgs(param: Tensor, lr: float, kw: dict) -> torch.optim.LBFGS:
    kw.setdefault("max_iter", 1)
    kw.setdefault("line_search_fn", "strong_wolfe")
    # torch's default max_eval (1.25·max_iter) would leave the line search no evaluations.
    kw.setdefault("max_eval", kw["max_iter"] + 25)
    # torch stops on an absolute gradient (1e-7) or change (1e-9) threshold, which a
    # loss that is merely small in scale (Gram losses of a random network) trips at
    # once; the loop counts its own steps, so those thresholds are off by default.
    kw.setdefault("tolerance_grad", 0.0)
    kw.setdefault("tolerance_change", 0.0)
    return torch.optim.LBFGS([param], lr=lr, **kw)


def _named_optimizer(name: str, param: Tensor, lr: float | None, kwargs: Mapping[str, Any],
                     bounds: tuple[float, float] | None) -> torch.optim.Optimizer:
    if name not in DEFAULT_LR:
        raise ValueError(f"optimizer must be 'lbfgs', 'adam', 'sgd' or a callable, got {name!r}")
    lr = DEFAULT_LR[name] if lr is None else lr
    kw = dict(kwargs)
    if name == "lbfgs" and bounds is not None:
        unknown = sorted(set(kw) - set(BOUNDED_LBFGS_OPTIONS))
        if unknown:
            raise TypeError(f"optimizer_kwargs {unknown} do not apply to the kit's bounded L-BFGS "
                            f"(options: {', '.join(BOUNDED_LBFGS_OPTIONS)}); for torch.optim.LBFGS and its "
                            "options pass optimizer=torch.optim.LBFGS")
        return BoundedLBFGS([param], lr=lr, lower=bounds[0], upper=bounds[1], **kw)
    if name == "lbfgs":
        return _torch_lbfgs(param, lr, kw)
    if name == "adam":
        return torch.optim.Adam([param], lr=lr, **kw)
    return torch.optim.SGD([param], lr=lr, **kw)


def _make_optimizer(spec, param: Tensor, lr: float | None, kwargs: Mapping[str, Any],
                    bounds: tuple[float, float] | None = None) -> torch.optim.Optimizer:
    if isinstance(spec, str):
        return _named_optimizer(spec.lower(), param, lr, kwargs, bounds)
    if isinstance(spec, type) and issubclass(spec, torch.optim.Optimizer):
        return spec([param], **({"lr": lr} if lr is not None else {}), **kwargs)
    if callable(spec):
        opt = spec([param])
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"optimizer callable must return a torch.optim.Optimizer, got {type(opt).__name__}")
        return opt
    raise TypeError(f"optimizer must be a name, an Optimizer class or a callable, got {spec!r}")


def _flatten(transforms: Iterable) -> list:
    out = []
    for t in transforms:
        out.extend(_flatten(t.transforms) if isinstance(t, Compose) else [t])
    return out


class _ReplayRandomness:
    """The global random state (and the generators of transforms that draw inside each call),
    saved when a step begins and restored before each further evaluation of that step."""

    def __init__(self, frozen: Sequence, device: torch.device):
        self.generators = [g for g in (getattr(t, "generator", None) for t in _flatten(frozen)) if g is not None]
        self.device = device
        self.cpu_state = torch.get_rng_state()
        self.gen_states = [g.get_state() for g in self.generators]
        self.cuda_state = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    def restore(self) -> None:
        torch.set_rng_state(self.cpu_state)
        for g, s in zip(self.generators, self.gen_states):
            g.set_state(s)
        if self.cuda_state is not None:
            torch.cuda.set_rng_state(self.cuda_state, self.device)


# --------------------------------------------------------------------------- optimize_image

@dataclass
class _ObjectiveSetup:
    """What every stage of :func:`optimize_image` shares."""

    objective: Callable
    factory: bool
    optimizer: Any
    optimizer_kwargs: Mapping[str, Any]
    project: Callable | None
    transforms: list
    post_step: list
    regularizer: Callable | None
    run: LoopTracker

    @property
    def bounds(self) -> tuple[float, float] | None:
        # With the default projection, "lbfgs" keeps the pixels in [0, 1] inside the method.
        return (0.0, 1.0) if self.project is clamp_pixels else None

    def stage(self, spec: StagePlan, image: Tensor) -> "_ObjectiveStage":
        objective = self.objective(spec.size) if self.factory else self.objective
        if not callable(objective):
            raise TypeError("with a schedule, objective must be a factory: objective(size) -> objective; "
                            f"calling it with {spec.size} returned {type(objective).__name__}")
        return _ObjectiveStage(self, objective, image, spec.lr, _autocast_factory(spec.autocast, image.device))

    def evaluate(self, objective: Callable, image: Tensor, frozen: Sequence, step: int, amp=None):
        """``(terms, total)`` of the objective on the transformed image plus the regulariser on the image."""
        seen = image
        for t in frozen:
            seen = apply(t, seen, step=step)
        with network_precision(amp):
            out = objective(seen)
            extra = self.regularizer(image) if self.regularizer is not None else None
        self.run.evaluations += 1
        if extra is None:
            return as_terms(out, "total", "objective")
        terms, _ = as_terms(out, "total", "objective", bare_name="objective")
        more, _ = as_terms(extra, "total", "regularizer", bare_name="regularizer")
        clash = sorted(set(terms) & set(more))
        if clash:
            raise ValueError(f"the objective and the regularizer both return terms named {clash}")
        terms.update(more)
        return terms, sum(terms.values())


class _ObjectiveStage:
    """One stage of :func:`optimize_image`: an optimiser on the pixels at one size."""

    def __init__(self, setup: _ObjectiveSetup, objective: Callable, image: Tensor, lr: float | None, amp=None):
        self.setup, self.objective, self.run, self.amp = setup, objective, setup.run, amp
        self.param = image.clone().requires_grad_(True)
        self.opt = _make_optimizer(setup.optimizer, self.param, lr, setup.optimizer_kwargs, setup.bounds)
        self.bounded = isinstance(self.opt, BoundedLBFGS)
        # Both L-BFGS variants cap their first step at 1 (torch: min(1, 1/‖g‖₁), bounded:
        # min(1, 1/‖d‖₂)) and search in float32, which assumes a loss of order one; they
        # minimise the loss divided by its value at the stage's start (the minimiser is the
        # same; history records the unscaled loss).
        lbfgs = isinstance(self.opt, (torch.optim.LBFGS, BoundedLBFGS))
        self.scale: float | None = None if lbfgs else 1.0
        self.latest: dict[str, float] = {}   # the values of the last evaluation
        self.first: dict[str, float] = {}    # the values at the image the current step started from
        self.frozen: list = []
        self.replay: _ReplayRandomness | None = None
        self.index = self.evals = 0
        self.carried = False

    def step(self, step: int) -> tuple[dict[str, float], Tensor, Tensor]:
        """One optimiser step: ``(values at its start, the image they belong to, the new image)``."""
        self._begin(step)
        candidate = self.run.image
        self.opt.step(self._closure)
        return self.first, candidate, self._after_update(step)

    def _begin(self, step: int) -> None:
        transforms = self.setup.transforms
        self.index, self.evals = step, 0
        self.frozen = [freeze(t, step) for t in transforms]   # this step's draws, for all its evaluations
        if self.bounded and transforms:
            self.opt.forget_point()  # a new draw is a new objective: evaluate it afresh
        # The bounded L-BFGS starts from the values its last line search accepted.
        self.carried = self.bounded and self.opt.has_point() and bool(self.latest)
        self.first = dict(self.latest) if self.carried else {}
        self.replay = _ReplayRandomness(self.frozen, self.param.device) if transforms else None

    def _closure(self) -> Tensor:
        if self.evals and self.replay is not None:
            self.replay.restore()
        self.opt.zero_grad(set_to_none=True)
        with torch.enable_grad():
            terms, total = self.setup.evaluate(self.objective, self.param, self.frozen, self.index, self.amp)
            values = loss_values(terms, total, "total")
            check_values(values, self.index, "loss")
            if not self.evals and not self.carried:
                self.first = dict(values)
            self.latest = values
            self.evals += 1
            if self.scale is None:
                self.scale = 1.0 / max(abs(float(total.detach())), 1e-30)
            scaled = total * self.scale
            scaled.backward()
        return scaled

    def _after_update(self, step: int) -> Tensor:
        with torch.no_grad():
            new = post_process(self.param.detach(), self.setup.post_step, self.setup.project, step, self.param.grad)
            if not bool(torch.isfinite(new).all()):
                raise NonFinite(step, ["the image after the update"], what="image")
            self.param.copy_(new)
            return self.param.detach().clone()

    def final(self) -> None:
        """Record the objective at the last image (the bounded L-BFGS has evaluated it already)."""
        run = self.run
        if self.bounded and self.opt.has_point() and self.latest:
            run.final_loss = self.latest["total"]
            run.offer_best(self.latest, run.image)
            return
        with run.guarded(), torch.no_grad():
            frozen = [freeze(t, run.steps_done) for t in self.setup.transforms]
            terms, total = self.setup.evaluate(self.objective, run.image, frozen, run.steps_done, self.amp)
            values = loss_values(terms, total, "total")
            if math.isfinite(values["total"]):
                run.final_loss = values["total"]
                run.offer_best(values, run.image)


def coarse_to_fine(size: tuple[int, int], *, steps: int, levels: int = 2, coarse_steps: int | None = None,
                   coarse_precision: str | None = "auto", device: str | torch.device | None = None,
                   minimum: int = 32) -> dict[str, list]:
    """The kit's schedule for style transfer and texture synthesis, as keyword arguments of
    :func:`optimize_image`: ``optimize_image(objective_at, start, **coarse_to_fine(hw, steps=300))``.

    The image is optimised at up to ``levels`` sizes, each half the next with the aspect
    ratio kept (less than half where that would take the short side below ``minimum`` px;
    no level below a size that cannot shrink), ending at ``size``. Large structures settle at the coarse sizes, where
    an evaluation costs a quarter (or less) of a full-size one; the full size then mostly
    refines detail. The coarse stages run the network in bfloat16 where that is fast
    (``coarse_precision="auto"``: CUDA, or a CPU with native bfloat16); the full size stays
    float32, whose rounding the small late decreases need. BENCHMARKS.md §1 measures it
    against a tutorial-style L-BFGS.

    Args:
        size: the final ``(H, W)`` in pixels.
        steps: L-BFGS steps at the final size.
        levels: number of sizes (1: the final size only).
        coarse_steps: steps at each coarse size; default ``steps // 2``.
        coarse_precision: ``"auto"``, ``"bfloat16"``, or ``"float32"``/``None``.
        device: where the optimisation runs, i.e. the start image's device (for ``"auto"``);
            default the best available.
        minimum: smallest side of a coarse size, in pixels.

    Returns:
        ``{"schedule": [(H, W), …], "steps": [int, …], "autocast": [str | None, …]}``, coarse first.
    """
    from helpers.devices import bfloat16_is_fast, pick_device

    if levels < 1:
        raise ValueError(f"levels must be at least 1, got {levels}")
    hw = (int(size[0]), int(size[1]))
    sizes = [hw]
    for _ in range(levels - 1):
        h, w = sizes[0]
        factor = max(0.5, minimum / min(h, w))   # half, unless that takes the short side below minimum
        if factor >= 1:
            break                                 # this size cannot shrink further: fewer levels
        sizes.insert(0, (round(h * factor), round(w * factor)))
    if coarse_precision == "auto":
        coarse_precision = "bfloat16" if bfloat16_is_fast(pick_device(device)) else None
    if coarse_precision not in (None, "float32", "bfloat16"):
        raise ValueError(f"coarse_precision must be 'auto', 'bfloat16', 'float32' or None, got {coarse_precision!r}")
    coarse = max(1, steps // 2) if coarse_steps is None else int(coarse_steps)
    coarse_count = len(sizes) - 1
    return {"schedule": sizes, "steps": [coarse] * coarse_count + [int(steps)],
            "autocast": [coarse_precision] * coarse_count + [None]}


def optimize_image(objective: Callable, init: Tensor, *, steps: int | Sequence[int],
                   optimizer: str | Callable = "lbfgs", lr: float | Sequence[float] | None = None,
                   optimizer_kwargs: Mapping[str, Any] | None = None,
                   project: Callable[[Tensor], Tensor] | None = clamp_pixels, transforms: Sequence[Callable] = (),
                   post_step: Sequence[Callable] = (), schedule: Sequence[int | tuple[int, int]] | None = None,
                   regularizer: Callable[[Tensor], Any] | None = None,
                   callbacks: Sequence[Callable[[StepState], bool | None]] = (), progress: bool = True,
                   preview=None, preview_every: int = 10, keep_best: bool = True,
                   device: str | torch.device | None = None, autocast=None, on_nonfinite: str = "stop",
                   desc: str = "optimising") -> OptimizationResult:
    """Minimise ``objective`` over the pixels of an image, starting from ``init``.

    Args:
        objective: ``objective(image) -> loss``; ``image`` is ``[B, 3, H, W]`` in [0, 1]
            (after ``transforms``), ``loss`` a 0-d tensor or a dict of named 0-d tensors
            whose sum is minimised (each term is recorded in ``history``). To maximise,
            return the negative. With ``schedule``, a factory ``objective(size)`` (size
            ``(H, W)``) called once per stage, so size-dependent targets can be built there.
        init: start image ``[B, 3, H, W]`` (or ``[3, H, W]``), float; copied and projected.
        steps: steps to take (see the module docstring); with a schedule, per stage, or a
            list with one count per stage.
        optimizer: ``"lbfgs"`` (with the default ``project``: the kit's
            :class:`~helpers.bounded_lbfgs.BoundedLBFGS`, pixels kept in [0, 1] by the method;
            otherwise ``torch.optim.LBFGS``, strong-Wolfe, ``max_iter=1``), ``"adam"``,
            ``"sgd"``, an optimiser class or ``callable(params) -> Optimizer``.
        lr: learning rate (or one per stage); default 1.0 for L-BFGS, 0.02 (pixels per step)
            for Adam, 0.1 for SGD. ``optimizer_kwargs`` go to the optimiser's constructor.
        project: applied to the image after every step and to ``init``; default clamps to
            [0, 1]; ``None`` leaves the image unconstrained.
        transforms: applied, in order, to the image the objective sees (e.g.
            :class:`~helpers.transforms.Jitter`); differentiable, and frozen once per step
            (see the module docstring).
        post_step: applied, in order, to the image after each step, before ``project``
            (e.g. ``GaussianBlur``, ``L2Decay``); :class:`~helpers.transforms.Transform`
            instances get ``step`` (0-based) and ``grad`` (of the last evaluation).
        schedule: the stages' image sizes (an int is the longest side, a pair ``(H, W)``);
            the image is resized (:func:`helpers.images.resize`) to each in turn and optimised there; the same
            size twice gives two stages at one size (e.g. with another ``lr``).
        regularizer: ``regularizer(image) -> 0-d tensor or dict``, evaluated on the image
            itself (not transformed) and added to the objective; recorded as
            ``"regularizer"`` (or its own term names).
        autocast: precision of the kit's networks (:class:`~helpers.models.FeatureExtractor`)
            in the forward passes (:func:`helpers.devices.network_precision`): ``None`` or
            ``"float32"``, ``"bfloat16"``, ``True`` (the device's autocast type), a
            ``devices.Profile``, a context manager or a factory; or a list with one per stage
            (:func:`coarse_to_fine` runs the coarse stages in bfloat16). Features come back in
            float32, so Gram matrices and losses are computed, recorded and differentiated in
            float32. Other modules the objective calls are not affected: wrap them yourself.
        callbacks, progress, preview, preview_every, keep_best, device, on_nonfinite, desc:
            see the module docstring. Returns :class:`OptimizationResult`, also after
            Ctrl-C (``interrupted=True``) or a callback's stop.
    """
    x0 = prepare(init, device)
    plan = plan_stages(x0, schedule, steps, lr, autocast)
    run = LoopTracker(sum(s.steps for s in plan), total_key="total", keep_best=keep_best, progress=progress,
                      desc=desc, preview=preview, preview_every=preview_every, callbacks=callbacks,
                      on_nonfinite=on_nonfinite)
    setup = _ObjectiveSetup(objective, schedule is not None, optimizer, optimizer_kwargs or {}, project,
                            list(transforms or ()), list(post_step or ()), regularizer, run)
    run.image = projected(x0, project)
    last = run_stages(run, plan, stage_change(resize_to, project), setup.stage)
    if last is not None and run.finished:
        last.final()
    return run.finish()
