"""Feature inversion (Mahendran & Vedaldi 2015, 2016): the loop, its constants, its start image.

The two formulas of notebook 04 — the relative feature error and the ``R_β`` regulariser —
are written by the student and passed in as ``loss_fn`` and ``regularizer_fn``; this
module only assembles the objective

    E(I) = loss_fn(Φ(jitter(I)), Φ₀) + λ · regularizer_fn(I, β)

and minimises it with :func:`helpers.optim.optimize_image`, keeping ``I`` in [0, 1]. The
jitter is the loop's ``transforms`` (drawn once per step, the same for every evaluation of
that step, so L-BFGS jitters too) and the regulariser its ``regularizer`` (evaluated on
the image itself, not jittered).

Constants, converted to the kit's pixel units (images in [0, 1])
-----------------------------------------------------------------
Mahendran & Vedaldi (2016, IJCV, Sec. 3; defaults of their released code) work with
8-bit, mean-subtracted pixels and normalise each regulariser by the image size and a
typical value: ``R_TV(x) / (H·W·V^β)`` with ``B = 80`` a typical pixel magnitude and
``V = B / 6.5`` a typical difference between neighbouring pixels. The feature term is ``C · ‖Φ − Φ₀‖² / ‖Φ₀‖²``
with ``C = 1`` by default (their code also runs 20, 100 and 300). Dividing by ``C``:

    λ = strength / (H · W · V^β),    V = (80 / 255) / 6.5 ≈ 0.0483 in [0, 1] units,

with ``strength = 1 / C``. ``V`` is not rescaled for other working sizes: natural
images are close to scale invariant (power spectrum ≈ 1/f²), so the mean squared
difference between neighbouring pixels of a photo changes little when it is resized
(the bundled ``chelsea`` photo: ``λ R_2`` = 9.4 at 64 px, 5.8 at 128 px; a perfectly
smooth picture would change by 4×).

Their optimiser is gradient descent with momentum 0.9 and per-pixel (AdaGrad-like)
step normalisation, with the image translated at random by up to a quarter of the
layer's stride ("jitter"), for 300 steps, then 50 steps at a tenth of the learning
rate without jitter. Adam is the same kind of method (momentum plus per-pixel
normalisation); :func:`invert` runs it in the same two stages. Their box constraint on
pixel values becomes the clamp to [0, 1].
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from helpers.optim import OptimizationResult, StepState, optimize_image
from helpers.transforms import Jitter, Transform

Tensor = torch.Tensor

__all__ = ["TYPICAL_PIXEL", "TYPICAL_VARIATION", "tv_weight", "jitter_for_stride",
           "noise_image", "finite_gradient", "invert"]

#: ``B = 80`` of 255 (Mahendran & Vedaldi 2016): a typical pixel magnitude, in [0, 1] units.
TYPICAL_PIXEL = 80 / 255
#: ``V = B / 6.5``: a typical difference between neighbouring pixels, in [0, 1] units.
TYPICAL_VARIATION = TYPICAL_PIXEL / 6.5


def tv_weight(height: int, width: int, beta: float = 2.0, strength: float = 1.0) -> float:
    """The paper's normalised weight ``λ = strength / (H·W·V^β)`` for an ``H×W`` image.

    ``V`` is :data:`TYPICAL_VARIATION`. ``strength = 1`` is Mahendran & Vedaldi's default
    (``C = 1``); larger values smooth more.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}×{width}")
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    return float(strength) / (height * width * TYPICAL_VARIATION ** beta)


def jitter_for_stride(stride: int) -> int:
    """Largest random shift (pixels) for a layer whose units are ``stride`` pixels apart:
    a quarter of the stride, as in Mahendran & Vedaldi (2016) (0 for strides below 4)."""
    return max(int(stride) // 4, 0)


def noise_image(shape, seed: int = 0, amplitude: float = TYPICAL_PIXEL / 3 ** 0.5,
                device: str | torch.device | None = None) -> Tensor:
    """Mid-grey plus uniform noise in ``[-amplitude, amplitude]``: the start image ``[B,3,H,W]``.

    The default amplitude ``B / √3`` follows the initialisation of Mahendran & Vedaldi's
    code (uniform noise scaled to ``B / √3``), converted to [0, 1] units.
    """
    g = torch.Generator().manual_seed(int(seed))
    noise = (torch.rand(tuple(shape), generator=g) * 2 - 1) * amplitude
    return (0.5 + noise).clamp(0, 1).to(device or "cpu")


class _FiniteGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)


def finite_gradient(x: Tensor) -> Tensor:
    """Identity whose backward pass replaces NaN / inf gradient entries by 0.

    ``R_β`` with ``β < 2`` has no derivative where both differences are zero (a flat
    spot, e.g. pixels clamped to 0 or 1): autograd gives ``0 · ∞ = NaN`` there. Feeding
    the regulariser ``finite_gradient(image)`` makes those pixels get no push from the
    regulariser (0 lies in its subdifferential at a flat spot) instead of a NaN image.
    """
    return _FiniteGradient.apply(x)


class _FirstSteps(Transform):
    """``transform`` for the first ``steps`` steps, the identity after them."""

    def __init__(self, transform: Transform, steps: int):
        self.transform, self.steps = transform, int(steps)

    def freeze(self, step=None):
        if step is not None and step >= self.steps:
            return _identity
        return self.transform.freeze(step)

    def __call__(self, image, *, step=None, grad=None):
        return self.freeze(step)(image)


def _identity(image: Tensor) -> Tensor:
    return image


def invert(
    features_fn: Callable[[Tensor], Tensor],
    target: Tensor,
    init: Tensor,
    *,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    regularizer_fn: Callable[..., Tensor] | None = None,
    lam: float = 0.0,
    beta: float = 2.0,
    steps: int = 100,
    fine_steps: int | None = None,
    optimizer: str = "adam",
    lr: float | None = None,
    jitter: int = 0,
    seed: int = 0,
    callbacks: Sequence[Callable[[StepState], bool | None]] = (),
    progress: bool = True,
    preview=None,
    desc: str = "inverting",
) -> OptimizationResult:
    """Find an image whose features match ``target``: ``argmin loss_fn(Φ(I), Φ₀) + λ R_β(I)``.

    Args:
        features_fn: ``Φ``: image ``[B,3,H,W]`` in [0, 1] → feature tensor (e.g.
            ``lambda x: extractor(x)["relu3_3"]``).
        target: ``Φ₀``, the features of the image to reconstruct (detached).
        init: start image ``[B,3,H,W]`` in [0, 1] (see :func:`noise_image`); not modified.
        loss_fn: ``loss_fn(features, target) -> 0-d tensor`` (the student's ``inversion_loss``).
        regularizer_fn: ``regularizer_fn(image, beta) -> 0-d tensor`` (the student's
            ``tv_beta``); evaluated on the un-jittered image through
            :func:`finite_gradient`. ``None`` or ``lam == 0``: no regulariser.
        lam: its weight ``λ`` (see :func:`tv_weight`).
        beta: the exponent ``β`` passed to ``regularizer_fn``.
        steps: steps of the first stage (with jitter, learning rate ``lr``).
        fine_steps: steps of the second stage (no jitter, ``lr / 10``); default
            ``steps // 6`` (the paper's 300 + 50). ``0`` skips it.
        optimizer: ``"adam"`` (default) or ``"lbfgs"``; the loop draws the jitter once per
            step, so L-BFGS's line search sees one objective per step and jitters as well.
        lr: Adam's learning rate in pixel units per step, default 0.05 (L-BFGS: its
            step scale, default 1.0).
        jitter: largest random translation in pixels (see :func:`jitter_for_stride`).
        seed: seeds the jitter's random shifts.
        callbacks, progress, preview, desc: as in :func:`helpers.optim.optimize_image`.

    Returns:
        One :class:`~helpers.optim.OptimizationResult` over both stages (``stages`` has one
        entry per stage; ``history`` has the terms ``"features"`` and, with a regulariser,
        ``"regularizer"``); ``image`` is in [0, 1].
    """
    target = target.detach()
    lr = (1.0 if optimizer == "lbfgs" else 0.05) if lr is None else lr
    fine = steps // 6 if fine_steps is None else int(fine_steps)
    stages = [steps] + ([fine] if fine > 0 else [])
    shifts = []
    if jitter:
        shifts = [_FirstSteps(Jitter(jitter, mode="roll", generator=torch.Generator().manual_seed(int(seed))), steps)]

    def features_term(image: Tensor):
        return {"features": loss_fn(features_fn(image), target)}

    def regularizer(image: Tensor) -> Tensor:
        return lam * regularizer_fn(finite_gradient(image), beta)

    use_reg = regularizer_fn is not None and lam != 0
    size = tuple(init.shape[-2:])
    return optimize_image(lambda _: features_term, init, steps=stages, schedule=[size] * len(stages),
                          lr=[lr, lr / 10][:len(stages)], optimizer=optimizer, transforms=shifts,
                          regularizer=regularizer if use_reg else None, callbacks=callbacks,
                          progress=progress, preview=preview, desc=desc)
