"""What every loop of the kit returns and hands its callbacks: :class:`OptimizationResult`
(:class:`TrainingResult` for a loop that trains a network), its :class:`Stage` entries,
:class:`StepState`, and :class:`NonFiniteLossError`."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from helpers.errors import KitError

Tensor = torch.Tensor


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
