"""The loop every iterative algorithm of the kit runs on, and the one result it returns.

Image loops, built on one coarse-to-fine stage loop:

* :func:`optimize_image` minimises ``objective(image)`` with a torch optimiser
  (L-BFGS, Adam, SGD or your own), optionally coarse to fine (``schedule``);
* :func:`gradient_ascent_loop` repeats an update written by the student,
  ``step_fn(image) -> image`` (e.g. ``class_visualization_step`` or ``dream_step``),
  optionally over a ``schedule`` too (DeepDream's octaves).

Training loops (:func:`helpers.fast_style.train_transformer`,
:func:`helpers.adversarial_training.adversarial_finetune`) use the same book-keeping,
:class:`LoopTracker`. Every loop therefore

* returns an :class:`OptimizationResult` (:class:`TrainingResult` when it trains a
  network): ``history`` (one list per recorded value), ``interrupted``, ``stopped_reason``,
  ``best_value``, ``stages``, ``steps_done``, ``times``;
* takes ``callbacks``: functions ``callback(state: StepState)`` called after every step;
  one that returns True stops the loop after that step and is named in ``stopped_reason``;
* turns Ctrl-C (``KeyboardInterrupt``, also raised from a callback) into a returned
  result with ``interrupted=True``.

Images are float ``[B, 3, H, W]`` in [0, 1]; the returned images are detached float32
tensors on the optimisation device.

Options every image loop takes
------------------------------
``callbacks`` (see above); ``progress``: a ``tqdm.auto`` bar counting steps;
``preview``: a :class:`~helpers.display.LivePreview` (or ``True`` for a new one), updated
every ``preview_every`` steps and at the end; ``keep_best``: track the best image (at
the final size); ``device``: where to run (default: the start image's device; the model
must already be there); ``on_nonfinite``: ``"stop"`` (warn and return the result so far
with ``stopped_reason`` set) or ``"raise"`` (:class:`NonFiniteLossError`); ``desc``: the
bar's label.

Random transforms
-----------------
``transforms`` are frozen once per step (:meth:`helpers.transforms.Transform.freeze`: a
``Jitter`` draws its shift) and the frozen ones are used for every evaluation within
that step; the global random state is also restored before each further evaluation of
a step, so transforms that draw inside their call repeat their draws too. L-BFGS, whose
line search evaluates several times per step, thus sees one fixed objective per step.

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
import dataclasses
import functools
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from helpers.bounded_lbfgs import BoundedLBFGS
from helpers.devices import autocast_factory, network_precision
from helpers.errors import KitError
from helpers.transforms import Compose, apply, clamp_pixels, freeze

Tensor = torch.Tensor

__all__ = [
    "NonFiniteLossError",
    "OptimizationResult",
    "TrainingResult",
    "Stage",
    "StepState",
    "LoopTracker",
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


# --------------------------------------------------------------------------- the result

@dataclass(frozen=True)
class Stage:
    """One stage of a loop: its image ``size`` (H, W) (``None`` for training loops), its
    first global step, its step count, and ``image``: the image when the stage ended (at
    that size; the current image for the stage that was running when the loop stopped)."""

    size: tuple[int, int] | None
    first_step: int
    steps: int
    image: Tensor | None = field(default=None, compare=False, repr=False)


@dataclass(repr=False)
class OptimizationResult:
    """What every loop returns, also when it was interrupted or stopped early.

    Attributes:
        image: the final image ``[B, 3, H, W]``, projected and detached (``None`` for
            training loops).
        best_image: the image with the best recorded value (lowest loss; highest score
            for :func:`gradient_ascent_loop`) at the final size; ``image`` when nothing
            better was recorded or ``keep_best=False``.
        best_value: that value (``nan`` when none was recorded); :attr:`best_loss` is an
            alias kept for older code.
        history: per-step values: one list per named term plus ``"total"``
            (``"score"`` for :func:`gradient_ascent_loop`; the training loops' own keys).
        times: seconds per step.
        steps_done: completed steps, over all stages.
        interrupted: True when Ctrl-C (``KeyboardInterrupt``) stopped the loop.
        stopped_reason: ``""`` when every step ran, otherwise why it stopped (Ctrl-C,
            the callback that returned True, a non-finite value).
        stages: the stages run (the sizes of a schedule; one entry without one).
        evaluations: objective evaluations (L-BFGS makes several per step).
        final_loss: the objective at ``image`` after the last step, when it was evaluated.
        maximize: True when larger values are better (the ascent loop).
    """

    image: Tensor | None = None
    best_image: Tensor | None = None
    best_value: float = math.nan
    history: dict[str, list[float]] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    steps_done: int = 0
    interrupted: bool = False
    stopped_reason: str = ""
    stages: list[Stage] = field(default_factory=list)
    evaluations: int = 0
    final_loss: float | None = None
    maximize: bool = False

    @property
    def best_loss(self) -> float:
        """Alias of :attr:`best_value` (its earlier name), read-only."""
        return self.best_value

    @property
    def total_time(self) -> float:
        """Seconds spent in steps, in total (steps of an earlier, resumed run not counted)."""
        return float(sum(t for t in self.times if math.isfinite(t)))

    def stage_history(self, key: str) -> list[list[float]]:
        """``history[key]`` split by stage: one list per entry of :attr:`stages`."""
        values = self.history.get(key, [])
        return [values[s.first_step:s.first_step + s.steps] for s in self.stages]

    def __repr__(self) -> str:
        status = self.stopped_reason or "completed"
        shape = tuple(self.image.shape) if isinstance(self.image, Tensor) else None
        return (f"{type(self).__name__}(image={shape}, steps_done={self.steps_done}, "
                f"best_value={self.best_value:.4g}, total_time={self.total_time:.2f}s, {status!r})")


@dataclass(repr=False)
class TrainingResult(OptimizationResult):
    """The :class:`OptimizationResult` of a loop that trains a network.

    Adds ``net`` (the trained network, in eval mode), ``resumed_from`` (the step a
    checkpoint was resumed from, 0 for a fresh start), ``seconds`` (wall time of the call)
    and ``checkpoint`` (the checkpoint file, if any). It unpacks as ``net, history``, the
    pair :func:`~helpers.adversarial_training.adversarial_finetune` used to return.
    """

    net: nn.Module | None = None
    resumed_from: int = 0
    seconds: float = 0.0
    checkpoint: Path | None = None

    def __iter__(self):
        return iter((self.net, self.history))


@dataclass
class StepState:
    """What a callback receives after each step. Return True from the callback to stop.

    ``step`` counts completed steps over all stages (1 after the first); ``image`` is the
    current image (detached, do not modify it; ``None`` in training loops); ``losses``
    the values recorded for this step; ``size`` the image size; ``stage`` the index of
    the current stage; ``result`` the result as it would be returned now (built on
    first use).
    """

    step: int
    total_steps: int
    image: Tensor | None
    losses: dict[str, float]
    size: tuple[int, int] | None
    stage: int = 0
    build_result: Callable[[], OptimizationResult] | None = field(default=None, repr=False)

    @functools.cached_property
    def result(self) -> OptimizationResult | None:
        return self.build_result() if self.build_result is not None else None


class _NonFinite(Exception):
    def __init__(self, step: int, names: Sequence[str], values: Mapping[str, float] | None = None, what: str = "loss"):
        self.step, self.names, self.values, self.what = step, list(names), dict(values or {}), what
        super().__init__(step, names)


class _Stop(Exception):
    pass


# --------------------------------------------------------------------------- book-keeping

class _Records:
    """What a result is made of: per-step values and times, the stages, the best so far."""

    def __init__(self, total_key: str, maximize: bool, keep_best: bool):
        self.total_key, self.maximize, self.keep_best = total_key, maximize, keep_best
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

    def resume(self, history: Mapping[str, Sequence[float]], steps_done: int) -> None:
        """Continue a run that already recorded ``steps_done`` steps (their times are unknown)."""
        self.history = {k: [float(v) for v in vals] for k, vals in history.items()}
        self.steps_done = int(steps_done)
        self.times = [math.nan] * self.steps_done
        for value in self.history.get(self.total_key, []):
            self.offer_best({self.total_key: value}, None)

    def begin_stage(self, image: Tensor | None, steps: int, size: tuple[int, int] | None) -> None:
        """Start a stage: values at another size do not compare, so best-so-far restarts."""
        self.stages = self._stages_now()
        self.image = image
        self.best_image, self.best_value = None, None
        self.stages.append(Stage(size, self.steps_done, int(steps)))

    def _stages_now(self) -> list[Stage]:
        stages = list(self.stages)
        if stages and self.image is not None:
            stages[-1] = dataclasses.replace(stages[-1], image=self.image)
        return stages

    def offer_best(self, values: Mapping[str, float], candidate: Tensor | None) -> None:
        value = values.get(self.total_key, math.nan) if values else math.nan
        if not (self.keep_best and math.isfinite(value)):
            return
        if self.best_value is None or (value > self.best_value if self.maximize else value < self.best_value):
            self.best_value, self.best_image = value, candidate

    def record(self, values: Mapping[str, float], image: Tensor | None, seconds: float) -> None:
        n = self.steps_done
        for key in values:
            if key not in self.history:
                self.history[key] = [math.nan] * n
        for key, series in self.history.items():
            series.append(float(values.get(key, math.nan)))
        self.times.append(seconds)
        self.image = image
        self.steps_done += 1

    def _best(self) -> tuple[Tensor | None, float]:
        if self.best_image is not None or self.best_value is not None:
            return self.best_image, float(self.best_value)
        if self.final_loss is not None:
            return self.image, self.final_loss
        series = self.history.get(self.total_key)
        return self.image, (series[-1] if series else math.nan)

    def result(self, cls: type = OptimizationResult, **extra) -> OptimizationResult:
        best_image, best_value = self._best()
        return cls(image=self.image, best_image=best_image, best_value=best_value,
                   history={k: list(v) for k, v in self.history.items()}, times=list(self.times),
                   steps_done=self.steps_done, interrupted=self.interrupted,
                   stopped_reason=self.stopped_reason, stages=self._stages_now(),
                   evaluations=self.evaluations, final_loss=self.final_loss, maximize=self.maximize, **extra)


class _Display:
    """The progress bar and the live preview of one loop."""

    def __init__(self, total: int, desc: str, progress: bool, preview, preview_every: int, initial: int = 0):
        from tqdm.auto import tqdm

        # display is needed only once a loop runs
        from helpers.display import resolve_preview

        self.preview = resolve_preview(preview)
        self.preview_every = max(1, int(preview_every))
        self.desc = desc
        self.bar = tqdm(total=total, initial=min(initial, total), desc=desc, disable=not progress,
                        dynamic_ncols=True)

    def stage(self, index: int, count: int, size: tuple[int, int] | None) -> None:
        if count > 1:
            where = f" ({size[0]}×{size[1]})" if size else ""
            self.bar.set_description(f"{self.desc}: stage {index + 1}/{count}{where}", refresh=False)

    def step(self, steps_done: int, values: Mapping[str, float], image: Tensor | None, total_key: str) -> None:
        self.bar.update(1)
        if values:
            shown = {total_key: values[total_key]} if len(values) > 4 and total_key in values else values
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()}, refresh=False)
        if self.preview is not None and image is not None and steps_done % self.preview_every == 0:
            self.preview.update(image, step=steps_done, losses=dict(values))

    def close(self, image: Tensor | None = None, steps_done: int | None = None) -> None:
        self.bar.close()
        if self.preview is not None and image is not None:
            with contextlib.suppress(Exception):
                self.preview.update(image, step=steps_done)


class LoopTracker(_Records):
    """The book-keeping of one loop: records, progress bar and preview, callbacks, stopping.

    A loop calls :meth:`begin_stage` before each stage, :meth:`after_step` after each
    step (which runs the callbacks: one that returns True stops the loop), wraps its
    steps in ``with tracker.guarded():`` (Ctrl-C, a callback's stop and a non-finite
    value end the block and are recorded) and returns :meth:`finish`.

    Args:
        total_steps: steps the loop means to take (the bar's length).
        total_key: the recorded value that decides the best result (``"total"``, ``"score"``…).
        maximize: larger values are better. keep_best: track the best image.
        callbacks: ``callback(state: StepState) -> bool | None`` after every step.
        progress, desc, preview, preview_every, on_nonfinite: see the module docstring.
        initial: steps done before (a resumed training run), where the bar starts.
    """

    def __init__(self, total_steps: int, *, total_key: str = "total", maximize: bool = False,
                 keep_best: bool = True, progress: bool = True, desc: str = "", preview=None,
                 preview_every: int = 10, callbacks: Iterable[Callable] = (), on_nonfinite: str = "stop",
                 initial: int = 0):
        if on_nonfinite not in ("stop", "raise"):
            raise ValueError(f"on_nonfinite must be 'stop' or 'raise', got {on_nonfinite!r}")
        super().__init__(total_key, maximize, keep_best)
        self.total_steps = int(total_steps)
        self.on_nonfinite = on_nonfinite
        self.callbacks = list(callbacks or ())
        self.stage_count = 1
        self.display = _Display(self.total_steps, desc, progress, preview, preview_every, initial)

    def begin_stage(self, image, steps, size=None, index: int = 0, count: int = 1) -> None:
        super().begin_stage(image, steps, size)
        self.stage_count = count
        self.display.stage(index, count, size)

    def after_step(self, values: Mapping[str, float], image: Tensor | None, seconds: float) -> None:
        """Commit one completed step; runs progress, preview and callbacks (which may stop the loop)."""
        self.record(values, image, seconds)
        self.display.step(self.steps_done, values, image, self.total_key)
        if self.callbacks:
            size = tuple(image.shape[-2:]) if image is not None else None
            state = StepState(step=self.steps_done, total_steps=self.total_steps, image=image,
                              losses=dict(values), size=size, stage=len(self.stages) - 1,
                              build_result=self.result)
            for cb in self.callbacks:
                if cb(state):
                    raise _Stop(_stop_message(cb, self))

    @contextlib.contextmanager
    def guarded(self):
        """Turn Ctrl-C, a callback's stop and a non-finite value into a stopped result."""
        try:
            yield
        except KeyboardInterrupt:
            self.interrupted = True
            self.stopped_reason = (f"interrupted (KeyboardInterrupt) after {self.steps_done} of "
                                   f"{self.total_steps} steps; returning the result so far")
        except _Stop as stop:
            self.stopped_reason = str(stop)
        except _NonFinite as bad:
            self.failed = True
            self.stopped_reason = _nonfinite_message(bad, self)
            if self.on_nonfinite == "raise":
                self.display.close()
                raise NonFiniteLossError(self.stopped_reason, self.result()) from None
            warnings.warn(self.stopped_reason, RuntimeWarning, stacklevel=4)
        except BaseException:
            self.display.close()
            raise

    @property
    def finished(self) -> bool:
        """No Ctrl-C and no non-finite value (a callback's stop counts as finished)."""
        return not (self.interrupted or self.failed)

    def finish(self, cls: type = OptimizationResult, **extra) -> OptimizationResult:
        """Close the bar, show the final image in the preview and return the result."""
        self.display.close(self.image, self.steps_done)
        return self.result(cls, **extra)


def _stop_message(callback: Callable, run: LoopTracker) -> str:
    name = getattr(callback, "__name__", type(callback).__name__)
    where = ""
    if run.stage_count > 1 and run.stages:
        size = run.stages[-1].size
        where = f" (stage {len(run.stages)}/{run.stage_count}" + (f", {size[0]}×{size[1]})" if size else ")")
    return f"stopped by callback {name} after {run.steps_done} of {run.total_steps} steps{where}"


def _nonfinite_message(bad: _NonFinite, run: LoopTracker) -> str:
    if bad.what == "image":
        detail = f"{', '.join(bad.names)} contains NaN or inf values"
    else:
        terms = ", ".join(f"{n!r} = {bad.values.get(n, math.nan)}" for n in bad.names)
        detail = f"non-finite {bad.what}: {terms}"
    kept = "the best image" if run.image is not None else "the result"
    return (f"stopped at step {bad.step + 1} of {run.total_steps}: {detail}. Kept {kept} of the "
            f"{run.steps_done} completed step(s). Usual causes: a learning rate or loss weight "
            f"that is too large, or a division by a value that can reach zero.")


# --------------------------------------------------------------------------- values

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
    stacked = torch.stack([t.detach().float().reshape(()) for t in terms.values()]
                          + [total.detach().float().reshape(())])
    return dict(zip(names, stacked.tolist()))


def _as_terms(out: Any, total_key: str, who: str, bare_name: str | None = None) -> tuple[dict[str, Tensor], Tensor]:
    """Normalise an objective's return value to ``(terms, total)``; a bare value is a term
    called ``bare_name`` when one is given, otherwise only the total."""
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
        return terms, sum(terms.values())
    value = scalar(bare_name or total_key, out)
    return ({bare_name: value} if bare_name else {}), value


def _check_values(values: Mapping[str, float], step: int, what: str) -> None:
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        terms_only = [k for k in bad if k not in ("total", "score")] or bad
        raise _NonFinite(step, terms_only, values, what)


# --------------------------------------------------------------------------- small parts

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


def _projected(x: Tensor, project) -> Tensor:
    with torch.no_grad():
        return project(x) if project is not None else x


def _post_process(x: Tensor, post_step: Sequence, project, step: int, grad: Tensor | None) -> Tensor:
    for t in post_step:
        x = apply(t, x, step=step, grad=grad)
    return project(x) if project is not None else x


# --------------------------------------------------------------------------- the stage loop

@dataclass(frozen=True)
class _StagePlan:
    size: tuple[int, int]
    steps: int
    lr: float | None = None
    autocast: Any = None


def _per_stage(value, n: int, what: str) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(f"{what} lists {len(values)} values for {n} stage(s)")
    return values


def _plan(x0: Tensor, schedule, steps, lr=None, autocast=None) -> list[_StagePlan]:
    """The stages: one per size of ``schedule`` (one at the start size without one), each
    with its step count, learning rate and precision (each a value, or a list with one per stage)."""
    hw = tuple(x0.shape[-2:])
    sizes = [hw] if schedule is None else [_size_hw(s, hw) for s in schedule]
    if not sizes:
        raise ValueError("schedule must list at least one size")
    counts = [int(n) for n in _per_stage(steps, len(sizes), "steps")]
    if any(n < 0 for n in counts):
        raise ValueError(f"steps must be >= 0, got {steps!r}")
    rates, precisions = _per_stage(lr, len(sizes), "lr"), _per_stage(autocast, len(sizes), "autocast")
    return [_StagePlan(*stage) for stage in zip(sizes, counts, rates, precisions)]


def _stage_change(rescale: Callable[[Tensor, tuple[int, int]], Tensor], project) -> Callable:
    """Moving the image to the next stage's size: ``rescale`` it, then ``project`` it."""
    def enter(image: Tensor, size: tuple[int, int]) -> Tensor:
        with torch.no_grad():
            x = rescale(image, size)
            if project is not None:
                x = project(x)
        return x.contiguous()
    return enter


def _run_stages(run: LoopTracker, plan: Sequence[_StagePlan], enter: Callable, make_stage: Callable):
    """The loop every image algorithm shares: for each stage, move the image to its size,
    set the stage up, take its steps. Returns the last stage (``None`` if none began)."""
    stage = None
    with run.guarded():
        for index, spec in enumerate(plan):
            x = enter(run.image, spec.size)
            run.begin_stage(x, spec.steps, spec.size, index=index, count=len(plan))
            stage = make_stage(spec, x)
            for _ in range(spec.steps):
                step, start = run.steps_done, time.perf_counter()
                values, candidate, new = stage.step(step)
                run.offer_best(values, candidate)
                run.after_step(values, new, time.perf_counter() - start)
    return stage


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

    def stage(self, spec: _StagePlan, image: Tensor) -> "_ObjectiveStage":
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
            return _as_terms(out, "total", "objective")
        terms, _ = _as_terms(out, "total", "objective", bare_name="objective")
        more, _ = _as_terms(extra, "total", "regularizer", bare_name="regularizer")
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
            _check_values(values, self.index, "loss")
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
            new = _post_process(self.param.detach(), self.setup.post_step, self.setup.project, step, self.param.grad)
            if not bool(torch.isfinite(new).all()):
                raise _NonFinite(step, ["the image after the update"], what="image")
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

    The image is optimised at ``levels`` sizes, each half the next (sides at least
    ``minimum`` px), ending at ``size``. Large structures settle at the coarse sizes, where
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
        device: where it will run (for ``"auto"``); default the best available.
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
        sizes.insert(0, (max(minimum, h // 2), max(minimum, w // 2)))
    if coarse_precision == "auto":
        coarse_precision = "bfloat16" if bfloat16_is_fast(pick_device(device)) else None
    if coarse_precision not in (None, "float32", "bfloat16"):
        raise ValueError(f"coarse_precision must be 'auto', 'bfloat16', 'float32' or None, got {coarse_precision!r}")
    coarse = max(1, steps // 2) if coarse_steps is None else int(coarse_steps)
    return {"schedule": sizes, "steps": [coarse] * (levels - 1) + [int(steps)],
            "autocast": [coarse_precision] * (levels - 1) + [None]}


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
            the image is resized (bilinear) to each in turn and optimised there; the same
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
            float32.
        callbacks, progress, preview, preview_every, keep_best, device, on_nonfinite, desc:
            see the module docstring. Returns :class:`OptimizationResult`, also after
            Ctrl-C (``interrupted=True``) or a callback's stop.
    """
    x0 = _prepare(init, device)
    plan = _plan(x0, schedule, steps, lr, autocast)
    run = LoopTracker(sum(s.steps for s in plan), total_key="total", keep_best=keep_best, progress=progress,
                      desc=desc, preview=preview, preview_every=preview_every, callbacks=callbacks,
                      on_nonfinite=on_nonfinite)
    setup = _ObjectiveSetup(objective, schedule is not None, optimizer, optimizer_kwargs or {}, project,
                            list(transforms or ()), list(post_step or ()), regularizer, run)
    run.image = _projected(x0, project)
    last = _run_stages(run, plan, _stage_change(_resize, project), setup.stage)
    if last is not None and run.finished:
        last.final()
    return run.finish()


# --------------------------------------------------------------------------- gradient_ascent_loop

def _score_gradient(score_fn: Callable[[Tensor], Any], image: Tensor) -> Tensor:
    """``∇_image score_fn(image)`` (the total when it returns terms), same shape as ``image``."""
    x = image.detach().clone().requires_grad_()
    with torch.enable_grad():
        _, total = _as_terms(score_fn(x), "score", "score_fn")
        (grad,) = torch.autograd.grad(total, x)
    return grad.detach()


def _identity(x: Tensor) -> Tensor:
    return x


@dataclass
class _AscentStage:
    """One step of :func:`gradient_ascent_loop`: shift, the student's update, shift back, regularise, score."""

    step_fn: Callable[[Tensor], Tensor]
    score_fn: Callable[[Tensor], Any] | None
    jitter: Compose | None
    post_step: list
    project: Callable | None
    run: LoopTracker

    def __post_init__(self):
        self.score_grad = self.score_fn is not None and any(getattr(t, "needs_grad", False) for t in self.post_step)

    def step(self, step: int) -> tuple[dict[str, float], Tensor, Tensor]:
        current = self.run.image
        moved, undo = ((current, _identity) if self.jitter is None
                       else freeze(self.jitter, step).apply_with_undo(current))
        grad = _score_gradient(self.score_fn, current) if self.score_grad else None
        out = self.step_fn(moved.clone())
        if not isinstance(out, Tensor) or out.shape != current.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"step_fn must return an image of shape {tuple(current.shape)}, got {got}")
        with torch.no_grad():
            new = undo(out.detach().to(current.device, torch.float32))
            if not bool(torch.isfinite(new).all()):
                raise _NonFinite(step, ["the image returned by step_fn"], what="image")
            new = _post_process(new, self.post_step, self.project, step,
                                grad if grad is not None else new - current).contiguous()
            self.run.evaluations += 1
            return self._score(new, step), new, new

    def _score(self, image: Tensor, step: int) -> dict[str, float]:
        if self.score_fn is None:
            return {}
        terms, total = _as_terms(self.score_fn(image), "score", "score_fn")
        values = loss_values(terms, total, "score")
        _check_values(values, step, "score")
        return values


def _invertible(transforms: Sequence) -> Compose | None:
    if not transforms:
        return None
    for t in transforms:
        if not hasattr(t, "apply_with_undo"):
            raise TypeError(f"{t!r} cannot be undone after the step; gradient_ascent_loop takes "
                            "invertible transforms only (Jitter, Roll)")
    return Compose(list(transforms))


def gradient_ascent_loop(step_fn: Callable[[Tensor], Tensor], image: Tensor, steps: int | Sequence[int], *,
                         project: Callable[[Tensor], Tensor] | None = clamp_pixels, transforms: Sequence = (),
                         post_step: Sequence[Callable] = (), score_fn: Callable[[Tensor], Any] | None = None,
                         schedule: Sequence[int | tuple[int, int]] | None = None,
                         rescale: Callable[[Tensor, tuple[int, int]], Tensor] | None = None,
                         callbacks: Sequence[Callable[[StepState], bool | None]] = (), progress: bool = True,
                         preview=None, preview_every: int = 10, keep_best: bool = True,
                         device: str | torch.device | None = None, on_nonfinite: str = "stop",
                         desc: str = "gradient ascent") -> OptimizationResult:
    """Repeat a hand-written update ``image ← step_fn(image)`` with the kit's regularisers.

    Each step: translate the image with ``transforms`` (invertible ones: ``Jitter`` in
    roll mode, ``Roll``; frozen once per step), call ``step_fn`` on it, translate the
    result back, apply ``post_step`` regularisers and ``project``, then record ``score_fn``
    of the new image.

    Args:
        step_fn: ``step_fn(image [B,3,H,W]) -> image [B,3,H,W]``, e.g.
            ``lambda x: class_visualization_step(model, x, target, l2_reg, lr)``. It gets a copy.
        image: start image ``[B, 3, H, W]``, float in [0, 1]; not modified.
        steps: number of updates (with a schedule: per stage, or one count per stage).
        project: applied after every step (and to ``image`` first); default clamps to
            [0, 1]; ``None`` to leave values unconstrained.
        transforms: invertible transforms applied before ``step_fn`` and undone after.
        post_step: regularisers applied after the update (``GaussianBlur``, ``L2Decay``, ...).
            Transform instances get ``step`` (0-based) and ``grad``: for transforms that
            need it (``ClipSmallContributions``) and a ``score_fn``, the gradient of the
            score alone at the image before the step (Yosinski et al.'s contributions; one
            extra backward pass per step); otherwise the update ``step_fn`` made.
        score_fn: ``score_fn(image) -> number, 0-d tensor or dict of them`` evaluated on
            each new image under ``torch.no_grad()``; recorded in ``history["score"]``
            (and per term). Higher is better: ``best_image`` is the highest-scoring.
        schedule: stage sizes, as in :func:`optimize_image` (DeepDream's octaves).
        rescale: ``rescale(image, (H, W)) -> image`` moves the image to the next stage's
            size (before ``project``); default bilinear resizing.
        callbacks, progress, preview, preview_every, keep_best, device, on_nonfinite, desc:
            see the module docstring.

    Returns:
        :class:`OptimizationResult` with ``maximize=True``; ``best_value`` is the best score.
    """
    x = _prepare(image, device)
    plan = _plan(x, schedule, steps)
    run = LoopTracker(sum(s.steps for s in plan), total_key="score", maximize=True,
                      keep_best=keep_best and score_fn is not None, progress=progress, desc=desc, preview=preview,
                      preview_every=preview_every, callbacks=callbacks, on_nonfinite=on_nonfinite)
    stage = _AscentStage(step_fn, score_fn, _invertible(list(transforms or ())), list(post_step or ()), project, run)
    run.image = _projected(x, project)
    _run_stages(run, plan, _stage_change(rescale or _resize, project), lambda spec, image: stage)
    return run.finish()
