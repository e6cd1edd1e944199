"""The image-optimisation loop every notebook uses.

Two entry points share one piece of book-keeping (history, timing, best image so far,
progress bar, live preview, callbacks, Ctrl-C and NaN handling):

* :func:`optimize_image` minimises ``objective(image)`` with a torch optimiser
  (L-BFGS, Adam, SGD or your own), optionally coarse to fine;
* :func:`gradient_ascent_loop` repeats an update written by the student,
  ``step_fn(image) -> image`` (e.g. ``class_visualization_step`` or ``dream_step``).

Images are float ``[B, 3, H, W]`` in [0, 1]; the returned images are detached float32
tensors on the optimisation device.

What one "step" is
------------------
Adam and SGD: one parameter update (one objective evaluation). L-BFGS with the default
projection (pixels clamped to [0, 1]): one iteration of :class:`~helpers.bounded_lbfgs.BoundedLBFGS`,
which keeps the pixels in range inside the method, usually one evaluation (the trial point
of its line search; more when the step is shortened). L-BFGS with another projection or none:
one call of ``torch.optim.LBFGS.step`` with ``max_iter=1``, i.e. the loss and gradient at
the current image plus the strong-Wolfe line search (usually one or two more evaluations, at
most 25); re-evaluating at the start of every step keeps it consistent with anything that
moves the image between steps. The bounded L-BFGS re-evaluates only when the image was moved
(a ``post_step`` regulariser) or the objective changed (random ``transforms``). The progress
bar, ``steps``, ``history`` and ``steps_done`` all count these steps;
``OptimizationResult.evaluations`` counts objective evaluations.

``history[name][i]`` is the value at the image the optimiser started step ``i + 1``
from (the loss an optimiser computes is always that of the current point);
:func:`gradient_ascent_loop` records the score of the image a step produced.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F

from helpers.bounded_lbfgs import BoundedLBFGS
from helpers.devices import autocast_factory
from helpers.errors import KitError
from helpers.transforms import Compose, Transform, apply, clamp_pixels

Tensor = torch.Tensor

__all__ = [
    "NonFiniteLossError",
    "OptimizationResult",
    "Stage",
    "StepState",
    "optimize_image",
    "gradient_ascent_loop",
    "loss_values",
]

DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02, "sgd": 0.1}


class NonFiniteLossError(KitError, FloatingPointError):
    """The loss (or the image) became NaN or infinite. The message names the term(s) and step;
    ``.result`` holds the :class:`OptimizationResult` up to the last good step."""

    def __init__(self, message: str, result: "OptimizationResult | None" = None):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Stage:
    """One size of a coarse-to-fine schedule: image ``size`` (H, W), its first global step, its step count."""

    size: tuple[int, int]
    first_step: int
    steps: int


@dataclass
class OptimizationResult:
    """What a loop returns, also when it was interrupted or stopped early.

    Attributes:
        image: the final image ``[B, 3, H, W]``, projected and detached.
        best_image: the image with the best recorded value (lowest loss; highest score
            for :func:`gradient_ascent_loop`) at the final size; ``image`` when nothing
            better was recorded or ``keep_best=False``.
        best_loss: that value (``nan`` when none was recorded).
        history: per-step values: one list per named term plus ``"total"``
            (``"score"`` for :func:`gradient_ascent_loop`).
        times: seconds per step.
        steps_done: completed steps, over all stages.
        interrupted: True when Ctrl-C stopped the loop.
        stopped_reason: ``""`` when every step ran, otherwise why it stopped.
        stages: the sizes optimised at (one entry without a schedule).
        evaluations: objective evaluations (L-BFGS makes several per step).
        final_loss: the objective at ``image`` after the last step, when it was evaluated.
        maximize: True when larger values are better (the ascent loop).
    """

    image: Tensor
    best_image: Tensor
    best_loss: float
    history: dict[str, list[float]]
    times: list[float]
    steps_done: int
    interrupted: bool = False
    stopped_reason: str = ""
    stages: list[Stage] = field(default_factory=list)
    evaluations: int = 0
    final_loss: float | None = None
    maximize: bool = False

    @property
    def total_time(self) -> float:
        """Seconds spent in steps, in total."""
        return float(sum(self.times))

    def __repr__(self) -> str:
        status = self.stopped_reason or "completed"
        return (f"OptimizationResult(image={tuple(self.image.shape)}, steps_done={self.steps_done}, "
                f"best_loss={self.best_loss:.4g}, total_time={self.total_time:.2f}s, {status!r})")


@dataclass
class StepState:
    """What a callback receives after each step. Return True from the callback to stop.

    ``step`` counts completed steps (1 after the first); ``image`` is the current image
    (detached, do not modify it); ``losses`` the values recorded for this step;
    ``result`` the result as it would be returned now.
    """

    step: int
    total_steps: int
    image: Tensor
    losses: dict[str, float]
    size: tuple[int, int]
    result: OptimizationResult


class _NonFinite(Exception):
    def __init__(self, step: int, names: Sequence[str], values: Mapping[str, float] | None = None, what: str = "loss"):
        self.step, self.names, self.values, self.what = step, list(names), dict(values or {}), what
        super().__init__(step, names)


class _Stop(Exception):
    pass


# --------------------------------------------------------------------------- shared book-keeping

class _Run:
    """History, timing, best-so-far, progress bar, preview and callbacks for one loop."""

    def __init__(self, total_steps: int, *, total_key: str, maximize: bool, keep_best: bool,
                 progress: bool, desc: str, preview, preview_every: int,
                 callbacks: Sequence[Callable], on_nonfinite: str):
        if on_nonfinite not in ("stop", "raise"):
            raise ValueError(f"on_nonfinite must be 'stop' or 'raise', got {on_nonfinite!r}")
        self.total_steps = total_steps
        self.total_key = total_key
        self.maximize = maximize
        self.keep_best = keep_best
        self.on_nonfinite = on_nonfinite
        self.callbacks = list(callbacks or ())
        from helpers.display import resolve_preview  # display is needed only once a loop runs

        self.preview = resolve_preview(preview)
        self.preview_every = max(1, int(preview_every))
        self.history: dict[str, list[float]] = {}
        self.times: list[float] = []
        self.steps_done = 0
        self.evaluations = 0
        self.stages: list[Stage] = []
        self.image: Tensor | None = None
        self.best_image: Tensor | None = None
        self.best_value: float | None = None
        self.final_loss: float | None = None
        self.interrupted = False
        self.failed = False  # stopped by a non-finite value
        self.stopped_reason = ""
        from tqdm.auto import tqdm
        self.bar = tqdm(total=total_steps, desc=desc, disable=not progress, dynamic_ncols=True)

    # -- stages and records
    def begin_stage(self, image: Tensor, steps: int) -> None:
        """Start a new size: losses at another size do not compare, so best-so-far restarts."""
        self.image = image
        self.best_image, self.best_value = None, None
        self.stages.append(Stage(tuple(image.shape[-2:]), self.steps_done, steps))

    def _better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        return value > self.best_value if self.maximize else value < self.best_value

    def offer_best(self, values: Mapping[str, float], candidate: Tensor) -> None:
        if self.keep_best and values and self._better(values[self.total_key]):
            self.best_value = values[self.total_key]
            self.best_image = candidate

    def _append(self, values: Mapping[str, float]) -> None:
        n = self.steps_done
        for key in values:
            if key not in self.history:
                self.history[key] = [math.nan] * n
        for key, series in self.history.items():
            series.append(float(values.get(key, math.nan)))

    def after_step(self, values: Mapping[str, float], image: Tensor, seconds: float) -> None:
        """Commit one completed step; runs progress, preview and callbacks (which may stop the loop)."""
        self._append(values)
        self.times.append(seconds)
        self.image = image
        self.steps_done += 1
        self.bar.update(1)
        if values:
            shown = {self.total_key: values[self.total_key]} if len(values) > 4 else values
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()}, refresh=False)
        if self.preview is not None and self.steps_done % self.preview_every == 0:
            self.preview.update(image, step=self.steps_done, losses=dict(values))
        if self.callbacks:
            state = StepState(step=self.steps_done, total_steps=self.total_steps, image=image,
                              losses=dict(values), size=tuple(image.shape[-2:]), result=self.result())
            for cb in self.callbacks:
                if cb(state):
                    name = getattr(cb, "__name__", type(cb).__name__)
                    raise _Stop(f"stopped by callback {name} after {self.steps_done} of {self.total_steps} steps")

    # -- stopping
    @contextlib.contextmanager
    def guarded(self):
        """Turn Ctrl-C, a callback's stop and a non-finite value into a stopped result."""
        try:
            yield
        except KeyboardInterrupt:
            self.interrupted = True
            self.stopped_reason = (f"interrupted (KeyboardInterrupt) after {self.steps_done} of "
                                   f"{self.total_steps} steps; returning the best image so far")
        except _Stop as stop:
            self.stopped_reason = str(stop)
        except _NonFinite as bad:
            message = self._nonfinite_message(bad)
            self.failed = True
            self.stopped_reason = message
            if self.on_nonfinite == "raise":
                self.bar.close()
                raise NonFiniteLossError(message, self.result()) from None
            warnings.warn(message, RuntimeWarning, stacklevel=4)
        except BaseException:
            self.bar.close()
            raise

    def _nonfinite_message(self, bad: _NonFinite) -> str:
        step = bad.step + 1
        if bad.what == "image":
            detail = f"{', '.join(bad.names)} contains NaN or inf values"
        else:
            terms = ", ".join(f"{n!r} = {bad.values.get(n, math.nan)}" for n in bad.names)
            detail = f"non-finite {bad.what}: {terms}"
        return (f"stopped at step {step} of {self.total_steps}: {detail}. Kept the best image of the "
                f"{self.steps_done} completed step(s). Usual causes: a learning rate or loss weight "
                f"that is too large, or a division by a value that can reach zero.")

    # -- result
    def result(self) -> OptimizationResult:
        image = self.image
        if self.best_image is not None:
            best_image, best_loss = self.best_image, float(self.best_value)
        else:
            best_image = image
            if self.final_loss is not None:
                best_loss = self.final_loss
            elif self.total_key in self.history and self.history[self.total_key]:
                best_loss = self.history[self.total_key][-1]
            else:
                best_loss = math.nan
        return OptimizationResult(
            image=image, best_image=best_image, best_loss=best_loss,
            history={k: list(v) for k, v in self.history.items()}, times=list(self.times),
            steps_done=self.steps_done, interrupted=self.interrupted,
            stopped_reason=self.stopped_reason, stages=list(self.stages),
            evaluations=self.evaluations, final_loss=self.final_loss, maximize=self.maximize)

    def finish(self) -> OptimizationResult:
        self.bar.close()
        if self.preview is not None and self.image is not None:
            with contextlib.suppress(Exception):
                self.preview.update(self.image, step=self.steps_done)
        return self.result()


def loss_values(terms: Mapping[str, Tensor], total: Tensor, total_key: str) -> dict[str, float]:
    """Every loss term and the total as Python floats, with one device synchronisation.

    Args:
        terms: term name → single-number tensor (shape ``()`` or ``[1]``, any float dtype,
            on any device), in the objective's own units (a loss, or a score when maximising).
        total: the single-number tensor the optimiser steps on (same units).
        total_key: the name the total gets in the result (``"total"`` or ``"score"``).

    Returns:
        ``{name: float}`` for every term, in order, then ``total_key``. The tensors are
        detached and stacked so that only one ``.tolist()`` waits for the device.
    """
    names = list(terms) + [total_key]
    stacked = torch.stack([t.detach().float().reshape(()) for t in terms.values()] + [total.detach().float().reshape(())])
    return dict(zip(names, stacked.tolist()))


def _as_terms(out: Any, total_key: str, who: str) -> tuple[dict[str, Tensor], Tensor]:
    """Normalise an objective's return value to ``(terms, total)``."""
    def scalar(name: str, v: Any) -> Tensor:
        if not isinstance(v, Tensor):
            if isinstance(v, (int, float)):
                return torch.tensor(float(v))
            raise TypeError(f"{who} returned {type(v).__name__} for {name!r}; expected a 0-d tensor")
        if v.numel() != 1:
            raise ValueError(f"{who} returned a tensor of shape {tuple(v.shape)} for {name!r}; "
                             "it must be a single number (did you forget a .sum() or .mean()?)")
        return v.reshape(()).float()

    if isinstance(out, Mapping):
        if not out:
            raise ValueError(f"{who} returned an empty dict")
        if total_key in out:
            raise ValueError(f"{who} returned a term named {total_key!r}, which is reserved for the sum of the terms")
        terms = {str(k): scalar(str(k), v) for k, v in out.items()}
        total = sum(terms.values())
        return terms, total
    return {}, scalar(total_key, out)


def _check_values(values: Mapping[str, float], step: int, what: str) -> None:
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        terms_only = [k for k in bad if k not in ("total", "score")] or bad
        raise _NonFinite(step, terms_only, values, what)


# --------------------------------------------------------------------------- helpers for optimize_image

def _autocast_factory(autocast, device: torch.device) -> Callable[[], Any]:
    if autocast is None or autocast is False:
        return contextlib.nullcontext
    if autocast is True:
        return lambda: torch.autocast(device_type=device.type)
    if hasattr(autocast, "__enter__") and not callable(getattr(autocast, "autocast", None)):
        return lambda: autocast  # a context manager object (checked first: torch.autocast is also callable)
    return autocast_factory(autocast)  # a devices.Profile or a factory


BOUNDED_LBFGS_OPTIONS = ("max_iter", "history_size", "c1", "max_backtracks")


def _make_optimizer(spec, param: Tensor, lr: float | None, kwargs: Mapping[str, Any],
                    bounds: tuple[float, float] | None = None) -> torch.optim.Optimizer:
    if isinstance(spec, str):
        name = spec.lower()
        if name not in DEFAULT_LR:
            raise ValueError(f"optimizer must be 'lbfgs', 'adam', 'sgd' or a callable, got {spec!r}")
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
        if name == "adam":
            return torch.optim.Adam([param], lr=lr, **kw)
        return torch.optim.SGD([param], lr=lr, **kw)
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


class _FrozenRandomness:
    """Replays the same random draws (jitter shifts) for every evaluation within one step,
    so the L-BFGS line search sees one fixed objective."""

    def __init__(self, transforms: Sequence, device: torch.device):
        self.generators = [g for g in (getattr(t, "generator", None) for t in _flatten(transforms)) if g is not None]
        self.cuda = device.type == "cuda"
        self.device = device

    def save(self) -> None:
        self.cpu_state = torch.get_rng_state()
        self.gen_states = [g.get_state() for g in self.generators]
        if self.cuda:
            self.cuda_state = torch.cuda.get_rng_state(self.device)

    def restore(self) -> None:
        torch.set_rng_state(self.cpu_state)
        for g, s in zip(self.generators, self.gen_states):
            g.set_state(s)
        if self.cuda:
            torch.cuda.set_rng_state(self.cuda_state, self.device)


def _size_hw(size, ref_hw: tuple[int, int]) -> tuple[int, int]:
    """An int is the longest side (aspect kept); a pair is (H, W)."""
    if isinstance(size, int):
        h, w = ref_hw
        if h >= w:
            return size, max(1, round(w * size / h))
        return max(1, round(h * size / w)), size
    h, w = size
    return int(h), int(w)


def _resize(image: Tensor, hw: tuple[int, int]) -> Tensor:
    if tuple(image.shape[-2:]) == tuple(hw):
        return image
    return F.interpolate(image, size=hw, mode="bilinear", align_corners=False, antialias=True)


def _prepare(init: Tensor, device) -> Tensor:
    if not isinstance(init, Tensor):
        raise TypeError(f"init must be a tensor image [B, 3, H, W], got {type(init).__name__}")
    if not init.is_floating_point():
        raise TypeError(f"init must be a float image in [0, 1], got dtype {init.dtype}")
    x = init.detach()
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"init must be [B, 3, H, W] (or [3, H, W]), got shape {tuple(init.shape)}")
    dev = torch.device(device) if device is not None else x.device
    return x.to(device=dev, dtype=torch.float32).clone()


def _post_process(x: Tensor, post_step: Sequence, project, step: int, grad: Tensor | None) -> Tensor:
    for t in post_step:
        x = apply(t, x, step=step, grad=grad)
    return project(x) if project is not None else x


# --------------------------------------------------------------------------- optimize_image

def optimize_image(
    objective: Callable,
    init: Tensor,
    *,
    steps: int | Sequence[int],
    optimizer: str | Callable = "lbfgs",
    lr: float | None = None,
    optimizer_kwargs: Mapping[str, Any] | None = None,
    project: Callable[[Tensor], Tensor] | None = clamp_pixels,
    transforms: Sequence[Callable] = (),
    post_step: Sequence[Callable] = (),
    schedule: Sequence[int | tuple[int, int]] | None = None,
    callbacks: Sequence[Callable[[StepState], bool | None]] = (),
    progress: bool = True,
    preview=None,
    preview_every: int = 10,
    keep_best: bool = True,
    device: str | torch.device | None = None,
    autocast=None,
    on_nonfinite: str = "stop",
    desc: str = "optimising",
) -> OptimizationResult:
    """Minimise ``objective`` over the pixels of an image, starting from ``init``.

    Args:
        objective: ``objective(image) -> loss``; ``image`` is ``[B, 3, H, W]`` in [0, 1]
            (after ``transforms``) and ``loss`` a 0-d tensor or a dict of named 0-d
            tensors whose sum is minimised (each term is recorded in ``history``). To
            maximise something, return its negative. With ``schedule``, pass a factory
            instead: ``objective(size) -> objective_at_size`` with ``size = (H, W)``,
            called once per size (so size-dependent targets can be built there).
        init: starting image ``[B, 3, H, W]`` (or ``[3, H, W]``), float; it is copied,
            never modified, and projected before the first step.
        steps: steps to take (see the module docstring for what a step is); with a
            schedule, steps per size, or a list with one count per size.
        optimizer: ``"lbfgs"`` (with the default ``project``: the kit's
            :class:`~helpers.bounded_lbfgs.BoundedLBFGS`, pixels kept in [0, 1] by the
            method; with another ``project``: ``torch.optim.LBFGS``, strong-Wolfe line
            search, ``max_iter=1``), ``"adam"``, ``"sgd"``, a ``torch.optim.Optimizer``
            class, or ``callable(params) -> Optimizer``.
        lr: learning rate; default 1.0 for L-BFGS, 0.02 (pixels per step) for Adam,
            0.1 for SGD. ``optimizer_kwargs`` go to the optimiser's constructor.
        project: applied to the image after every step and to ``init``; default clamps
            to [0, 1]; ``None`` leaves the image unconstrained.
        transforms: applied, in order, to the image fed to the objective (e.g.
            :class:`~helpers.transforms.Jitter`); differentiable, so gradients reach the
            untransformed image. Their random draws are repeated for every evaluation
            within one step.
        post_step: applied, in order, to the image after each step, before ``project``
            (e.g. ``GaussianBlur``, ``L2Decay``); :class:`~helpers.transforms.Transform`
            instances get ``step`` (0-based) and ``grad`` (the gradient of the last
            evaluation).
        schedule: coarse-to-fine image sizes; an int is the longest side, a pair is
            ``(H, W)``. The image is resized (bilinear) to each size in turn and
            optimised there; the result is at the last size.
        callbacks: ``callback(state: StepState)`` after every step; return True to stop.
        progress: show a ``tqdm.auto`` bar counting steps.
        preview: a :class:`~helpers.display.LivePreview` (or ``True`` for a new one),
            updated every ``preview_every`` steps and at the end.
        keep_best: track the image with the lowest total loss (at the final size).
        device: where to optimise; default: ``init``'s device. The objective's model
            must already be there.
        autocast: precision for the objective's forward pass: a ``devices.Profile``,
            ``True`` (``torch.autocast`` on the device), a context manager or a factory.
            Losses are recorded and differentiated in float32.
        on_nonfinite: ``"stop"`` (warn, return the best result so far with
            ``stopped_reason`` set) or ``"raise"`` (:class:`NonFiniteLossError`).

    Returns:
        :class:`OptimizationResult`. Ctrl-C (``KeyboardInterrupt``) during the loop
        returns it too, with ``interrupted=True``.
    """
    x0 = _prepare(init, device)
    if schedule is not None:
        sizes = [_size_hw(s, tuple(x0.shape[-2:])) for s in schedule]
        if not sizes:
            raise ValueError("schedule must list at least one size")
    else:
        sizes = [tuple(x0.shape[-2:])]
    per_size = list(steps) if isinstance(steps, (list, tuple)) else [int(steps)] * len(sizes)
    if len(per_size) != len(sizes):
        raise ValueError(f"steps lists {len(per_size)} counts for {len(sizes)} sizes")
    if any(int(n) < 0 for n in per_size):
        raise ValueError(f"steps must be >= 0, got {steps!r}")

    amp = _autocast_factory(autocast, x0.device)
    # With the default projection, "lbfgs" keeps the pixels in [0, 1] inside the method.
    bounds = (0.0, 1.0) if project is clamp_pixels else None
    transforms = list(transforms or ())
    post_step = list(post_step or ())
    freezer = _FrozenRandomness(transforms, x0.device) if transforms else None
    run = _Run(sum(per_size), total_key="total", maximize=False, keep_best=keep_best,
               progress=progress, desc=desc, preview=preview, preview_every=preview_every,
               callbacks=callbacks, on_nonfinite=on_nonfinite)
    with torch.no_grad():
        x = project(x0) if project is not None else x0
    run.image = x

    def evaluate(objective_now, image: Tensor, step: int) -> tuple[dict[str, Tensor], Tensor]:
        for t in transforms:
            image = apply(t, image, step=step)
        with amp():
            out = objective_now(image)
        run.evaluations += 1
        return _as_terms(out, "total", "objective")

    objective_now = None
    with run.guarded():
        for hw, n in zip(sizes, per_size):
            with torch.no_grad():
                x = _resize(x, hw)
                if project is not None:
                    x = project(x)
            x = x.contiguous()
            run.begin_stage(x, n)
            objective_now = objective(hw) if schedule is not None else objective
            if not callable(objective_now):
                raise TypeError("with a schedule, objective must be a factory: objective(size) -> objective; "
                                f"calling it with {hw} returned {type(objective_now).__name__}")
            param = x.clone().requires_grad_(True)
            opt = _make_optimizer(optimizer, param, lr, optimizer_kwargs or {}, bounds)
            bounded = isinstance(opt, BoundedLBFGS)
            # Both L-BFGS variants cap their first step at 1 (torch: min(1, 1/‖g‖₁), bounded:
            # min(1, 1/‖d‖₂)) and search in float32, which assumes a loss of order one; it minimises the loss divided by its value at the stage's start (the
            # minimiser is the same; history records the unscaled loss).
            loss_scale: list[float] = [] if isinstance(opt, (torch.optim.LBFGS, BoundedLBFGS)) else [1.0]
            latest: dict[str, float] = {}  # the values of the last evaluation
            for _ in range(n):
                step = run.steps_done
                start = time.perf_counter()
                if bounded and freezer is not None:
                    opt.forget_point()  # a new jitter is a new objective: evaluate it afresh
                # The bounded L-BFGS starts from the values its last line search accepted.
                carried = bounded and opt.has_point() and bool(latest)
                first: dict[str, float] = dict(latest) if carried else {}
                evals_in_step = 0
                if freezer is not None:
                    freezer.save()

                def closure():
                    nonlocal evals_in_step
                    if evals_in_step and freezer is not None:
                        freezer.restore()
                    opt.zero_grad(set_to_none=True)
                    with torch.enable_grad():
                        terms, total = evaluate(objective_now, param, step)
                        values = loss_values(terms, total, "total")
                        _check_values(values, step, "loss")
                        if not evals_in_step and not carried:
                            first.update(values)
                        latest.clear()
                        latest.update(values)
                        evals_in_step += 1
                        if not loss_scale:
                            loss_scale.append(1.0 / max(abs(float(total.detach())), 1e-30))
                        scaled = total * loss_scale[0]
                        scaled.backward()
                    return scaled

                opt.step(closure)
                candidate = run.image  # the image this step started from, whose loss is `first`
                with torch.no_grad():
                    grad = param.grad
                    new = _post_process(param.detach(), post_step, project, step, grad)
                    if not bool(torch.isfinite(new).all()):
                        raise _NonFinite(step, ["the image after the update"], what="image")
                    param.copy_(new)
                    snapshot = param.detach().clone()
                run.offer_best(first, candidate)
                run.after_step(first, snapshot, time.perf_counter() - start)

    finished = objective_now is not None and not run.interrupted and not run.failed
    if finished and bounded and opt.has_point() and latest:
        run.final_loss = latest["total"]  # the bounded L-BFGS evaluated the final image already
        run.offer_best(latest, run.image)
    elif finished:
        # The image the last step produced has no recorded loss yet: evaluate it once.
        with run.guarded(), torch.no_grad():
            terms, total = evaluate(objective_now, run.image, run.steps_done)
            values = loss_values(terms, total, "total")
            if math.isfinite(values["total"]):
                run.final_loss = values["total"]
                run.offer_best(values, run.image)
    return run.finish()


# --------------------------------------------------------------------------- gradient_ascent_loop

def _score_gradient(score_fn: Callable[[Tensor], Any], image: Tensor) -> Tensor:
    """``∇_image score_fn(image)`` (the total when it returns terms), same shape as ``image``."""
    x = image.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        _, total = _as_terms(score_fn(x), "score", "score_fn")
        (grad,) = torch.autograd.grad(total, x)
    return grad.detach()


def gradient_ascent_loop(
    step_fn: Callable[[Tensor], Tensor],
    image: Tensor,
    steps: int,
    *,
    project: Callable[[Tensor], Tensor] | None = clamp_pixels,
    transforms: Sequence = (),
    post_step: Sequence[Callable] = (),
    score_fn: Callable[[Tensor], Any] | None = None,
    callbacks: Sequence[Callable[[StepState], bool | None]] = (),
    progress: bool = True,
    preview=None,
    preview_every: int = 10,
    keep_best: bool = True,
    device: str | torch.device | None = None,
    on_nonfinite: str = "stop",
    desc: str = "gradient ascent",
) -> OptimizationResult:
    """Repeat a hand-written update ``image ← step_fn(image)`` with the kit's regularisers.

    Each step: translate the image with ``transforms`` (invertible ones: ``Jitter`` in
    roll mode, ``Roll``), call ``step_fn`` on it, translate the result back, apply
    ``post_step`` regularisers and ``project``, then record ``score_fn`` of the new image.

    Args:
        step_fn: ``step_fn(image [B,3,H,W]) -> image [B,3,H,W]``, e.g.
            ``lambda x: class_visualization_step(model, x, target, l2_reg, lr)`` or
            ``lambda x: dream_step(feature_fn, x, step_size)``. It gets a fresh copy.
        image: starting image ``[B, 3, H, W]``, float in [0, 1]; not modified.
        steps: number of updates.
        project: applied after every step (and to ``image`` first); default clamps to
            [0, 1]; ``None`` to leave values unconstrained.
        transforms: invertible transforms applied before ``step_fn`` and undone after.
        post_step: regularisers applied after the update (``GaussianBlur``,
            ``L2Decay``, ...). Transform instances get ``step`` (0-based) and ``grad``:
            for transforms that need it (``ClipSmallContributions``) and a ``score_fn``,
            the gradient of the score alone at the image before the step (Yosinski et
            al.'s contributions use the objective's gradient, not the regularised update;
            one extra backward pass per step); otherwise the update ``step_fn`` made.
        score_fn: ``score_fn(image) -> number, 0-d tensor or dict of them`` evaluated on
            each new image under ``torch.no_grad()``; recorded in ``history["score"]``
            (and per term). Higher is better: ``best_image`` is the highest-scoring.
        callbacks, progress, preview, preview_every, keep_best, device, on_nonfinite:
            as in :func:`optimize_image`.

    Returns:
        :class:`OptimizationResult` with ``maximize=True``; ``best_loss`` is the best score.
    """
    x = _prepare(image, device)
    with torch.no_grad():
        if project is not None:
            x = project(x)
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    jitter = Compose(list(transforms or ())) if transforms else None
    if jitter is not None:
        for t in jitter.transforms:
            if not hasattr(t, "apply_with_undo"):
                raise TypeError(f"{t!r} cannot be undone after the step; gradient_ascent_loop takes "
                                "invertible transforms only (Jitter, Roll)")
    post_step = list(post_step or ())
    score_grad = score_fn is not None and any(getattr(t, "needs_grad", False) for t in post_step)
    run = _Run(steps, total_key="score", maximize=True, keep_best=keep_best and score_fn is not None,
               progress=progress, desc=desc, preview=preview, preview_every=preview_every,
               callbacks=callbacks, on_nonfinite=on_nonfinite)
    run.image = x
    run.begin_stage(x, steps)

    with run.guarded():
        for step in range(steps):
            start = time.perf_counter()
            current = run.image
            if jitter is not None:
                moved, undo = jitter.apply_with_undo(current, step=step)
            else:
                moved, undo = current, (lambda t: t)
            grad = _score_gradient(score_fn, current) if score_grad else None
            out = step_fn(moved.clone())
            if not isinstance(out, Tensor) or out.shape != current.shape:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"step_fn must return an image of shape {tuple(current.shape)}, got {got}")
            with torch.no_grad():
                new = undo(out.detach().to(current.device, torch.float32))
                if not bool(torch.isfinite(new).all()):
                    raise _NonFinite(step, ["the image returned by step_fn"], what="image")
                new = _post_process(new, post_step, project, step,
                                    grad if grad is not None else new - current).contiguous()
                run.evaluations += 1
                values: dict[str, float] = {}
                if score_fn is not None:
                    terms, total = _as_terms(score_fn(new), "score", "score_fn")
                    values = loss_values(terms, total, "score")
                    _check_values(values, step, "score")
            run.offer_best(values, new)
            run.after_step(values, new, time.perf_counter() - start)
    return run.finish()
