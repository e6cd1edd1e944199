"""DeepDream machinery: octaves, detail carried between them, random roll (Mordvintsev et al. 2015).

The update itself — forward to a layer, set the layer's gradient to its activation,
back-propagate, take a normalised step — is the notebook's exercise (``dream_step``); it is
passed in here as ``step_fn(image) -> image``.

Octaves: the image is processed from a small copy up to full size, each octave
``octave_scale`` times larger than the last (4 octaves at scale 1.4 in the original
notebook). What the steps added at one octave (the *detail*, image minus that octave's
plain copy) is upsampled and added to the next octave's plain copy, so large patterns
found at coarse scales survive and fine ones are added on top. The octaves are the
stages of one :func:`helpers.optim.gradient_ascent_loop` run (its ``schedule``), with
carrying the detail as the way from one stage to the next (its ``rescale``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from helpers.images import resize
from helpers.optim import OptimizationResult, StepState, gradient_ascent_loop
from helpers.transforms import Roll

Tensor = torch.Tensor

__all__ = ["octave_sizes", "carry_detail", "dream", "match_guide"]


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
    return resize(image, tuple(size), clamp=False)  # details are differences: not clamped


def carry_detail(original: Tensor) -> Callable[[Tensor, tuple[int, int]], Tensor]:
    """The move from one octave to the next: ``rescale(image, size)`` returns the plain copy
    of ``original`` at ``size`` plus the detail of ``image`` (``image`` minus the plain copy
    at its own size), upsampled to ``size``. At ``original``'s size and with ``image =
    original`` it gives the plain copy: the first octave's start."""
    def rescale(image: Tensor, size: tuple[int, int]) -> Tensor:
        detail = image - _resize(original, tuple(image.shape[-2:]))
        return _resize(original, size) + _resize(detail, size)
    return rescale


def dream(image: Tensor, step_fn: Callable[[Tensor], Tensor], *, octaves: int = 4,
          octave_scale: float = 1.4, steps_per_octave: int = 10, jitter: int = 32,
          score_fn: Callable[[Tensor], Tensor] | None = None, generator: torch.Generator | None = None,
          progress: bool = True, preview=None, preview_every: int = 5,
          callbacks: Sequence[Callable[[StepState], bool | None]] = ()) -> OptimizationResult:
    """Dream on ``image`` ``[B,3,H,W]`` in [0,1] with ``step_fn`` over ``octaves`` scales.

    Args:
        step_fn: one DeepDream update, e.g. ``lambda x: dream_step(feature_fn, x, 0.01)``.
        octaves, octave_scale: number of scales and the factor between them.
        steps_per_octave: updates at each scale.
        jitter: random roll in pixels before each update, undone after it.
        score_fn: recorded per step (e.g. the dream objective) in ``history["score"]``.
        generator: makes the rolls reproducible.
        callbacks: ``callback(state)`` after every step (``state.step`` counts all steps,
            ``state.stage`` is the octave's index); return True to stop: the remaining
            octaves are skipped.

    Returns:
        An :class:`~helpers.optim.OptimizationResult` whose ``stages`` are the octaves
        (``stage.image``: the image after that octave, at its size; per-octave scores:
        ``result.stage_history("score")``) and whose ``image`` (and ``best_image``) is the
        dream at full size. Ctrl-C, or a callback's stop, ends the dream after the current
        step; the dream so far is returned, upsampled to full size.
    """
    original = image.detach().clamp(0, 1)
    full = tuple(original.shape[-2:])
    rescale = carry_detail(original)
    result = gradient_ascent_loop(
        step_fn, original, steps_per_octave, schedule=octave_sizes(*full, octaves, octave_scale), rescale=rescale,
        transforms=[Roll(jitter, generator=generator)], score_fn=score_fn, progress=progress, preview=preview,
        preview_every=preview_every, keep_best=False, callbacks=callbacks, desc="dreaming")
    final = rescale(result.image, full).clamp(0, 1)
    result.image = result.best_image = final
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
