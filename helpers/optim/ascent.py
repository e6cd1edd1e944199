""":func:`gradient_ascent_loop`: repeat an update written by the student,
``image ← step_fn(image)``, with the kit's regularisers, optionally over a schedule."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from helpers.optim.result import OptimizationResult, StepState
from helpers.optim.stages import plan_stages, post_process, prepare, projected, resize_to, run_stages, stage_change
from helpers.optim.tracker import LoopTracker, NonFinite, as_terms, check_values, loss_values
from helpers.transforms import Compose, clamp_pixels, freeze

Tensor = torch.Tensor


# --------------------------------------------------------------------------- gradient_ascent_loop

def _score_gradient(score_fn: Callable[[Tensor], Any], image: Tensor) -> Tensor:
    """``∇_image score_fn(image)`` (the total when it returns terms), same shape as ``image``."""
    x = image.detach().clone().requires_grad_()
    with torch.enable_grad():
        _, total = as_terms(score_fn(x), "score", "score_fn")
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
                raise NonFinite(step, ["the image returned by step_fn"], what="image")
            new = post_process(new, self.post_step, self.project, step,
                                grad if grad is not None else new - current).contiguous()
            self.run.evaluations += 1
            return self._score(new, step), new, new

    def _score(self, image: Tensor, step: int) -> dict[str, float]:
        if self.score_fn is None:
            return {}
        terms, total = as_terms(self.score_fn(image), "score", "score_fn")
        values = loss_values(terms, total, "score")
        check_values(values, step, "score")
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
            size (before ``project``); default :func:`helpers.images.resize` (not clamped).
        callbacks, progress, preview, preview_every, keep_best, device, on_nonfinite, desc:
            see the module docstring.

    Returns:
        :class:`OptimizationResult` with ``maximize=True``; ``best_value`` is the best score.
    """
    x = prepare(image, device)
    plan = plan_stages(x, schedule, steps)
    run = LoopTracker(sum(s.steps for s in plan), total_key="score", maximize=True,
                      keep_best=keep_best and score_fn is not None, progress=progress, desc=desc, preview=preview,
                      preview_every=preview_every, callbacks=callbacks, on_nonfinite=on_nonfinite)
    stage = _AscentStage(step_fn, score_fn, _invertible(list(transforms or ())), list(post_step or ()), project, run)
    run.image = projected(x, project)
    run_stages(run, plan, stage_change(rescale or resize_to, project), lambda spec, image: stage)
    return run.finish()
