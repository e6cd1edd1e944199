"""DeepDream machinery: octaves, detail carried between them, random roll (Mordvintsev et al. 2015).

The update itself — forward to a layer, set the layer's gradient to its activation,
back-propagate, take a normalised step — is the notebook's exercise (``dream_step``); it is
passed in here as ``step_fn(image) -> image``.

Octaves: the image is processed from a small copy up to full size, each octave
``octave_scale`` times larger than the last (4 octaves at scale 1.4 in the original
notebook). What the steps added at one octave (the *detail*, image minus that octave's
plain copy) is upsampled and added to the next octave's plain copy, so large patterns
found at coarse scales survive and fine ones are added on top.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from helpers.optim import OptimizationResult, StepState, gradient_ascent_loop
from helpers.transforms import Roll

Tensor = torch.Tensor


def octave_sizes(height: int, width: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """Sizes ``(H, W)`` from the smallest octave to the full size (last entry is ``(height, width)``)."""
    if octaves < 1:
        raise ValueError(f"octaves must be at least 1, got {octaves}")
    if scale <= 1:
        raise ValueError(f"octave_scale must be larger than 1, got {scale}")
    sizes = [(max(1, round(height / scale ** k)), max(1, round(width / scale ** k)))
             for k in range(octaves - 1, -1, -1)]
    return sizes


def _resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False)


@dataclass
class DreamResult:
    """``image`` ``[B,3,H,W]`` in [0,1] at full size; ``octaves``: the image after each octave
    (at that octave's size); ``history``: per octave, the loop's :class:`OptimizationResult`;
    ``stopped_reason``: why it ended early (Ctrl-C or a callback), ``""`` when every octave ran."""

    image: Tensor
    octaves: list[Tensor] = field(default_factory=list)
    history: list[OptimizationResult] = field(default_factory=list)
    interrupted: bool = False
    stopped_reason: str = ""


def dream(image: Tensor, step_fn: Callable[[Tensor], Tensor], *, octaves: int = 4,
          octave_scale: float = 1.4, steps_per_octave: int = 10, jitter: int = 32,
          score_fn: Callable[[Tensor], Tensor] | None = None, generator: torch.Generator | None = None,
          progress: bool = True, preview=None, preview_every: int = 5,
          callbacks: Sequence[Callable[[StepState], bool | None]] = ()) -> DreamResult:
    """Dream on ``image`` ``[B,3,H,W]`` in [0,1] with ``step_fn`` over ``octaves`` scales.

    Args:
        step_fn: one DeepDream update, e.g. ``lambda x: dream_step(feature_fn, x, 0.01)``.
        octaves, octave_scale: number of scales and the factor between them.
        steps_per_octave: updates at each scale.
        jitter: random roll in pixels before each update, undone after it.
        score_fn: recorded per step (e.g. the dream objective) for the loss plot.
        generator: makes the rolls reproducible.
        callbacks: ``callback(state)`` after every step (``state.step`` counts the steps of
            the current octave); return True to stop: the remaining octaves are skipped.

    Ctrl-C, or a callback's stop, ends the dream after the current step and returns the
    dream so far, upsampled to full size.
    """
    original = image.detach().clamp(0, 1)
    full = tuple(original.shape[-2:])
    detail = torch.zeros_like(original)
    result = DreamResult(image=original)
    for k, size in enumerate(octave_sizes(*full, octaves, octave_scale)):
        base = _resize(original, size)
        start = (base + _resize(detail, size)).clamp(0, 1)
        run = gradient_ascent_loop(
            step_fn, start, steps_per_octave, transforms=[Roll(jitter, generator=generator)],
            score_fn=score_fn, progress=progress, preview=preview, preview_every=preview_every,
            keep_best=False, callbacks=callbacks, desc=f"octave {k + 1}/{octaves} ({size[0]}×{size[1]})")
        result.history.append(run)
        result.octaves.append(run.image)
        detail = run.image - base
        if run.interrupted or run.stopped_reason:
            result.interrupted = run.interrupted
            result.stopped_reason = f"octave {k + 1}/{octaves}: {run.stopped_reason}"
            break
    result.image = (_resize(original, full) + _resize(detail, full)).clamp(0, 1)
    return result


def match_guide(activations: Tensor, guide: Tensor) -> Tensor:
    """For guided dreaming: each activation vector replaced by its best-matching guide vector.

    ``activations`` ``[1, C, H, W]`` and ``guide`` ``[1, C, H', W']`` (the same layer's
    features of a guide image). For every position ``p`` the guide position ``q`` with the
    largest dot product ``a_p · g_q`` is found, and ``g_q`` is placed at ``p``. Returns a
    tensor shaped like ``activations``, detached (a target, not part of the graph).
    """
    if activations.shape[:2] != guide.shape[:2] or activations.shape[0] != 1:
        raise ValueError(f"activations {tuple(activations.shape)} and guide {tuple(guide.shape)} "
                         "need the same batch (1) and channels")
    c = activations.shape[1]
    a = activations.detach().reshape(c, -1)       # [C, P]
    g = guide.detach().reshape(c, -1)             # [C, Q]
    best = (a.T @ g).argmax(dim=1)                # [P]
    return g[:, best].reshape_as(activations)
