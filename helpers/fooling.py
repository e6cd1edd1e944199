"""Fooling images: climb a target class's score from a photo until the network answers it.

CS231n (Stanford), assignment 3, ``make_fooling_image``: starting from a correctly
classified photo, take normalised gradient-ascent steps on the target class's raw score,
``X ← X + lr · g / ‖g‖₂`` with ``g = ∇_X S_target(X)`` and ``lr = 1`` on the
ImageNet-normalised image, and stop as soon as the network's top-1 class is the target.
There is no budget: the loop stops at the first image the network gets "wrong", so the
change is as small as this simple method can make it. (The lecture's elephant → koala and
schooner → iPod pictures are images of this kind.)

In the kit's [0, 1] pixels the step is converted like notebook 02's class-visualisation
step (``helpers.references``, topic 03): a step of L2 length ``lr`` on the normalised
224×224 image has length ``lr·σ̄`` in pixels, i.e. an RMS of :data:`FOOLING_PIXEL_STEP` per
value, kept per value at other sizes.

The loop is :func:`helpers.optim.gradient_ascent_loop`: the result is an
``OptimizationResult`` whose ``history["score"]`` is the margin ``S_target − max_{k≠target} S_k``
after each step (positive once the target is the top-1 class) and whose
``stopped_reason`` says whether the target was reached.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from helpers import references as _references
from helpers.optim import OptimizationResult, StepState, gradient_ascent_loop

__all__ = ["FOOLING_PIXEL_STEP", "FOOLING_MAX_STEPS", "fooling_image", "reached_target", "target_margin"]

#: RMS change per value of one step, in [0, 1] pixels (CS231n's lr = 1, converted).
FOOLING_PIXEL_STEP = _references.value("03", "fooling image step (RMS per step)")
#: Steps before giving up (CS231n: "you should be able to fool the network in fewer than 100 iterations").
FOOLING_MAX_STEPS = _references.value("03", "fooling image steps (at most)")


def target_margin(model: nn.Module, image: Tensor, target: int) -> Tensor:
    """``S_target − max_{k≠target} S_k`` of one image ``[1, 3, H, W]``: > 0 when the target is top-1."""
    scores = model(image)[0]
    others = torch.cat([scores[:target], scores[target + 1:]])
    return scores[target] - others.max()


def reached_target(result: OptimizationResult) -> bool:
    """True when :func:`fooling_image` ended on an image classified as its target (also when no step was needed)."""
    scores = result.history.get("score", [])
    return not scores or scores[-1] > 0


def _normalised_step(model: nn.Module, target: int, pixel_step: float):
    def step(image: Tensor) -> Tensor:
        x = image.detach().clone().requires_grad_()
        (grad,) = torch.autograd.grad(model(x)[0, target], x)
        rms = grad.pow(2).mean().sqrt()
        if not bool(rms > 0):
            return image            # a zero gradient: nothing to climb (a dead score)
        return image + pixel_step * grad / rms
    return step


def fooling_image(model: nn.Module, image: Tensor, target: int, *, pixel_step: float = FOOLING_PIXEL_STEP,
                  max_steps: int = FOOLING_MAX_STEPS, progress: bool = False) -> OptimizationResult:
    """CS231n's fooling image: normalised ascent on ``target``'s score until it is the top-1 class.

    Args:
        model: classifier, images ``[B, 3, H, W]`` in [0, 1] → logits ``[B, K]``; in eval mode.
        image: one photo ``[1, 3, H, W]`` in [0, 1]; not modified.
        target: the class index to reach.
        pixel_step: RMS change per value of each step, [0, 1] pixel units.
        max_steps: the most steps to take.
        progress: show a progress bar.

    Returns:
        ``OptimizationResult``: ``image`` the last image (the first one classified as
        ``target`` when it was reached), ``steps_done``, ``history["score"]`` the margin
        after each step, ``stopped_reason`` ``"stopped by callback reached_target after n
        of … steps"`` when it got there, ``""`` when every step ran without reaching it. If
        ``image`` is already classified as ``target`` no step is taken.
    """
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"image must be one photo [1, 3, H, W], got shape {tuple(image.shape)}")
    target = int(target)
    with torch.no_grad():
        already = bool(target_margin(model, image, target) > 0)

    def reached_target(state: StepState) -> bool:
        return state.losses["score"] > 0

    return gradient_ascent_loop(
        _normalised_step(model, target, pixel_step), image, 0 if already else max_steps,
        score_fn=lambda x: target_margin(model, x, target), callbacks=[reached_target],
        keep_best=False, progress=progress, desc="fooling image")
