"""The book-keeping every loop shares (:class:`LoopTracker`): recorded values and times,
stages, the best image, the progress bar and preview, callbacks, and how a loop stops
(Ctrl-C, a callback, a non-finite value); plus turning an objective's output into terms."""
from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch

from helpers.optim.result import NonFiniteLossError, OptimizationResult, Stage, StepState

Tensor = torch.Tensor


class NonFinite(Exception):
    def __init__(self, step: int, names: Sequence[str], values: Mapping[str, float] | None = None, what: str = "loss"):
        self.step, self.names, self.values, self.what = step, list(names), dict(values or {}), what
        super().__init__(step, names)


class StopRequested(Exception):
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
                    raise StopRequested(_stop_message(cb, self))

    @contextlib.contextmanager
    def guarded(self):
        """Turn Ctrl-C, a callback's stop and a non-finite value into a stopped result."""
        try:
            yield
        except KeyboardInterrupt:
            self.interrupted = True
            self.stopped_reason = (f"interrupted (KeyboardInterrupt) after {self.steps_done} of "
                                   f"{self.total_steps} steps; returning the result so far")
        except StopRequested as stop:
            self.stopped_reason = str(stop)
        except NonFinite as bad:
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


def _nonfinite_message(bad: NonFinite, run: LoopTracker) -> str:
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


def as_terms(out: Any, total_key: str, who: str, bare_name: str | None = None) -> tuple[dict[str, Tensor], Tensor]:
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


def check_values(values: Mapping[str, float], step: int, what: str) -> None:
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        terms_only = [k for k in bad if k not in ("total", "score")] or bad
        raise NonFinite(step, terms_only, values, what)
