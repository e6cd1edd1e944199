"""Regularising transforms for image optimisation.

Every transform takes and returns a float image ``[B, 3, H, W]`` in the kit's pixel
units (RGB in ``[0, 1]``); none of them modifies its input in place. They fall into
two groups, used at two places of :func:`helpers.optim.optimize_image`:

* **pre-step** transforms change the image the objective *sees* (random
  translation, :class:`Jitter`), differentiably, so the gradient flows back to the
  un-translated parameter (Mordvintsev et al. 2015; Lucid/Lucent's ``jitter``);
* **post-step** regularisers change the parameter itself after each update
  (:class:`L2Decay`, :class:`GaussianBlur`, :class:`ClipSmallValues`,
  :class:`ClipSmallContributions`), as in Yosinski et al. 2015, "Understanding
  Neural Networks Through Deep Visualization", Sec. 3.

Calling convention: a :class:`Transform` is called as ``t(image, step=k, grad=g)``;
``step`` (0-based step index) and ``grad`` (the gradient of the objective with
respect to the image, same shape) are optional and only some transforms use them.
Plain callables ``f(image) -> image`` are accepted wherever a transform is, and
:func:`apply` calls either kind correctly.

Random transforms and optimisation steps: :meth:`Transform.freeze` returns the transform
with its random choices for one step already made (a :class:`Jitter` becomes the
:class:`Shift` it drew). The loops of :mod:`helpers.optim` freeze every transform once per
step and use the frozen one for every evaluation within that step, so an optimiser that
evaluates several times per step (L-BFGS and its line search) sees one fixed objective.

The neutral value
-----------------
Yosinski et al. optimise a Caffe input: 0–255 BGR pixels *minus the ImageNet mean
image*, so their "zero", towards which decay shrinks and to which clipping sets
pixels, is the average ImageNet image. In ``[0, 1]`` pixels the same point is the
ImageNet mean colour :data:`NEUTRAL` ``= (0.485, 0.456, 0.406)`` (the Caffe mean
image is close to constant, so its mean colour stands in for it). Every transform
here that needs a neutral value takes ``neutral=`` (a number or an RGB triple) and
defaults to :data:`NEUTRAL`; pass ``0.5`` for mid-grey.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

#: ImageNet mean RGB colour in [0, 1] pixels: the image that is "zero" after Caffe-style
#: mean subtraction. Default centre of :class:`L2Decay` and the clipping transforms.
NEUTRAL: tuple[float, float, float] = (0.485, 0.456, 0.406)


#: Side in pixels of the CaffeNet input that Yosinski et al. 2015 optimised (their
#: ``--data-size (227, 227)``): the unit of the blur widths of :data:`YOSINSKI_PRESETS`.
YOSINSKI_INPUT_SIZE = 227

#: Standard deviation of the noise of Yosinski et al.'s default start ``mean_plus_rand``:
#: ``N(0, 10)`` on 0–255 pixels about the mean image, i.e. ``10/255`` in [0, 1] pixels.
START_NOISE = 10 / 255


def mean_start(shape: Sequence[int], noise: float = START_NOISE, neutral: float | Sequence[float] = NEUTRAL,
               generator: torch.Generator | None = None, device=None) -> Tensor:
    """The neutral colour plus Gaussian noise: a start image ``[B, 3, H, W]`` in [0, 1].

    Yosinski et al.'s deep-visualization-toolbox starts at ``mean_plus_rand``, the mean
    image plus ``N(0, 10)`` on 0–255 pixels; here ``neutral + noise·N(0, 1)`` per value,
    clamped to [0, 1]. ``generator`` (CPU) makes it reproducible; ``device`` places it.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4:
        raise ValueError(f"mean_start expects a shape [B, 3, H, W], got {shape}")
    z = torch.randn(shape, generator=generator)
    start = _neutral_like(neutral, z) + float(noise) * z
    return start.clamp(0.0, 1.0).to(device or "cpu")


def _neutral_like(neutral: float | Sequence[float], image: Tensor) -> Tensor:
    """``neutral`` as a tensor broadcastable to ``image`` ``[B, 3, H, W]``."""
    n = torch.as_tensor(neutral, dtype=image.dtype, device=image.device)
    if n.dim() == 0:
        return n
    if n.numel() != image.shape[1]:
        raise ValueError(f"neutral needs 1 or {image.shape[1]} values, got {n.numel()}")
    return n.view(1, -1, 1, 1)


def _check_image(image: Tensor, who: str) -> None:
    if not isinstance(image, Tensor) or image.dim() != 4:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ValueError(f"{who} expects an image batch [B, 3, H, W], got {shape}")


def _check_percentile(percentile: float) -> float:
    p = float(percentile)
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {percentile!r}")
    return p


class Transform:
    """Base class: ``t(image, step=None, grad=None) -> image`` on ``[B, 3, H, W]``."""

    def __call__(self, image: Tensor, *, step: int | None = None, grad: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def freeze(self, step: int | None = None) -> "Transform":
        """This transform with its random choices for step ``step`` made: calling the result
        again gives the same image. Deterministic transforms return themselves; random ones
        (:class:`Jitter`) return a deterministic transform (:class:`Shift`)."""
        return self

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


def apply(transform: Callable, image: Tensor, *, step: int | None = None, grad: Tensor | None = None) -> Tensor:
    """Call a :class:`Transform` with ``step``/``grad``, or a plain callable with the image only."""
    if isinstance(transform, Transform):
        return transform(image, step=step, grad=grad)
    return transform(image)


def freeze(transform: Callable, step: int | None = None) -> Callable:
    """:meth:`Transform.freeze` of a transform; a plain callable is returned as it is."""
    if isinstance(transform, Transform):
        return transform.freeze(step)
    return transform


class Compose(Transform):
    """Apply ``transforms`` left to right, passing ``step`` and ``grad`` to each.

    If every member is invertible (has ``apply_with_undo``), so is the composition:
    the undo functions run in reverse order.
    """

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, image, *, step=None, grad=None):
        for t in self.transforms:
            image = apply(t, image, step=step, grad=grad)
        return image

    def freeze(self, step=None) -> "Compose":
        """Every member frozen for ``step`` (see :meth:`Transform.freeze`)."""
        return Compose([freeze(t, step) for t in self.transforms])

    def apply_with_undo(self, image: Tensor, *, step: int | None = None):
        undos = []
        for t in self.transforms:
            if not hasattr(t, "apply_with_undo"):
                raise TypeError(f"{t!r} cannot be undone; only invertible transforms (Jitter in roll mode, Roll) can")
            image, undo = t.apply_with_undo(image, step=step)
            undos.append(undo)

        def undo_all(x: Tensor) -> Tensor:
            for u in reversed(undos):
                x = u(x)
            return x

        return image, undo_all


# --------------------------------------------------------------------------- translation

def _sample_shift(max_shift: int, generator: torch.Generator | None) -> tuple[int, int]:
    if max_shift <= 0:
        return 0, 0
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    return int(dy), int(dx)


def translate(image: Tensor, dy: int, dx: int, mode: str = "roll") -> Tensor:
    """Shift ``image`` ``[B, 3, H, W]`` down by ``dy`` and right by ``dx`` pixels, keeping its size.

    ``mode="roll"``: circular (what leaves one side comes back on the other);
    ``mode="reflect"``: the uncovered border is filled by mirroring (pad then crop).
    Differentiable in both modes.
    """
    if mode == "roll":
        return torch.roll(image, shifts=(dy, dx), dims=(-2, -1))
    if mode != "reflect":
        raise ValueError(f"mode must be 'roll' or 'reflect', got {mode!r}")
    if dy == 0 and dx == 0:
        return image
    h, w = image.shape[-2:]
    py, px = abs(dy), abs(dx)
    if py >= h or px >= w:
        raise ValueError(f"shift ({dy}, {dx}) is too large for a {h}×{w} image in reflect mode")
    padded = F.pad(image, (px, px, py, py), mode="reflect")
    top, left = py - dy, px - dx
    return padded[..., top:top + h, left:left + w]


class Shift(Transform):
    """A fixed translation: down by ``dy`` and right by ``dx`` pixels (see :func:`translate`).

    What :meth:`Jitter.freeze` draws for one step. :meth:`undo` shifts back (exact in
    ``roll`` mode; ``reflect`` loses the border strip).
    """

    def __init__(self, dy: int, dx: int, mode: str = "roll"):
        if mode not in ("roll", "reflect"):
            raise ValueError(f"mode must be 'roll' or 'reflect', got {mode!r}")
        self.dy, self.dx, self.mode = int(dy), int(dx), mode

    def __call__(self, image, *, step=None, grad=None):
        return translate(image, self.dy, self.dx, self.mode)

    def undo(self, image: Tensor) -> Tensor:
        """The opposite shift."""
        return translate(image, -self.dy, -self.dx, self.mode)

    def apply_with_undo(self, image: Tensor, *, step: int | None = None):
        """``(shifted, undo)``."""
        return self(image), self.undo


class Jitter(Transform):
    """Random translation by up to ``pixels`` in each direction (a pre-step transform).

    Shape ``[B, 3, H, W]`` in and out; each call draws a new ``(dy, dx)`` uniform in
    ``[-pixels, pixels]`` (one shift for the whole batch). ``mode="roll"`` (default) is
    circular and exactly invertible; ``"reflect"`` pads by mirroring then crops (no
    wrap-around seams, but its undo loses the border strip). Source: Mordvintsev et al.
    2015 (DeepDream's roll) and Olah et al. 2017 (Lucid's ``jitter``).

    ``generator`` makes the shifts reproducible independently of the global RNG.
    :meth:`freeze` draws one shift and returns it as a :class:`Shift`.
    """

    def __init__(self, pixels: int, mode: str = "roll", generator: torch.Generator | None = None):
        if int(pixels) < 0:
            raise ValueError(f"pixels must be >= 0, got {pixels!r}")
        if mode not in ("roll", "reflect"):
            raise ValueError(f"mode must be 'roll' or 'reflect', got {mode!r}")
        self.pixels = int(pixels)
        self.mode = mode
        self.generator = generator

    def freeze(self, step=None) -> Shift:
        """Draw one shift: the :class:`Shift` this step uses."""
        dy, dx = _sample_shift(self.pixels, self.generator)
        return Shift(dy, dx, self.mode)

    def __call__(self, image, *, step=None, grad=None):
        return self.freeze(step)(image)

    def apply_with_undo(self, image: Tensor, *, step: int | None = None):
        """Translate and return ``(shifted, undo)`` with ``undo`` shifting back (exact for ``roll``)."""
        return self.freeze(step).apply_with_undo(image)


class Roll(Jitter):
    """:class:`Jitter` in circular ``roll`` mode: DeepDream's random roll with exact undo."""

    def __init__(self, max_shift: int, generator: torch.Generator | None = None):
        super().__init__(max_shift, mode="roll", generator=generator)


# --------------------------------------------------------------------------- blur

def _symmetric_indices(n: int, radius: int, device) -> Tensor:
    """Indices ``-radius … n-1+radius`` folded into ``[0, n)`` by half-sample mirroring
    (``… b a | a b c … | c b …``), valid for any radius, even one larger than ``n``."""
    idx = torch.arange(-radius, n + radius, device=device)
    period = 2 * n
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - 1 - idx, idx)


def gaussian_kernel1d(sigma: float, truncate: float = 4.0, dtype=torch.float32, device=None) -> Tensor:
    """Sampled Gaussian of standard deviation ``sigma`` pixels, radius ``round(truncate·sigma)``, summing to 1."""
    radius = max(1, int(truncate * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device)


def gaussian_blur(image: Tensor, sigma: float, truncate: float = 4.0) -> Tensor:
    """Blur each channel of ``image`` ``[B, C, H, W]`` with a Gaussian of ``sigma`` pixels.

    Separable (one 1-D convolution per axis) with mirrored borders, like
    ``scipy.ndimage.gaussian_filter``'s default, which Yosinski et al.'s code used.
    ``sigma <= 0`` returns ``image`` itself. Constant images are left unchanged and the
    mean is preserved up to border effects. Differentiable.
    """
    if sigma <= 0:
        return image
    b, c, h, w = image.shape
    k = gaussian_kernel1d(sigma, truncate, dtype=image.dtype, device=image.device)
    r = (k.numel() - 1) // 2
    x = image.reshape(b * c, 1, h, w)
    x = x.index_select(-1, _symmetric_indices(w, r, image.device))
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = x.index_select(-2, _symmetric_indices(h, r, image.device))
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    return x.reshape(b, c, h, w)


class GaussianBlur(Transform):
    """Gaussian blur of ``sigma`` pixels applied on every ``every``-th step (a post-step regulariser).

    Yosinski et al. 2015, Sec. 3, "Gaussian blur": blurring every few steps is a cheap
    stand-in for penalising high frequencies. The step counter is the ``step`` argument
    (0-based); the blur runs when ``step % every == 0`` or when no step is given.
    ``sigma = 0`` or ``every = 0`` disables it (returns the input unchanged).
    ``sigma`` is in image pixels, the paper's blur "width"/radius θ_b_width.
    """

    def __init__(self, sigma: float, every: int = 1, truncate: float = 4.0):
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0 pixels, got {sigma!r}")
        if int(every) < 0:
            raise ValueError(f"every must be >= 0 (0 disables), got {every!r}")
        self.sigma = float(sigma)
        self.every = int(every)
        self.truncate = float(truncate)

    def __call__(self, image, *, step=None, grad=None):
        if self.sigma == 0 or self.every == 0:
            return image
        if step is not None and step % self.every != 0:
            return image
        return gaussian_blur(image, self.sigma, self.truncate)


# --------------------------------------------------------------------------- sparsity

def _reset_smallest(image: Tensor, score: Tensor, percentile: float, neutral) -> Tensor:
    """Set the ``floor(percentile/100 · H·W)`` pixels of each image with the smallest
    ``score`` ``[B, H, W]`` to ``neutral`` (all channels)."""
    b, _, h, w = image.shape
    k = int(math.floor(percentile / 100.0 * h * w))
    if k == 0:
        return image
    idx = score.reshape(b, h * w).topk(k, dim=1, largest=False).indices
    mask = torch.zeros(b, h * w, dtype=torch.bool, device=image.device)
    mask.scatter_(1, idx, True)
    mask = mask.view(b, 1, h, w)
    return torch.where(mask, _neutral_like(neutral, image).expand_as(image), image)


class ClipSmallValues(Transform):
    """Reset the ``percentile`` % of pixels with the smallest norm to the neutral value.

    Yosinski et al. 2015, Sec. 3, "clipping pixels with small norm" (θ_n_pct). For each
    image of the batch and each pixel ``p``, ``norm_p = ‖x_p − neutral‖₂`` over the 3
    channels; the ``floor(percentile/100 · H·W)`` pixels with the smallest norm (ties
    broken arbitrarily) are set to ``neutral`` in all channels. Shapes ``[B, 3, H, W]``.
    """

    def __init__(self, percentile: float, neutral: float | Sequence[float] = NEUTRAL):
        self.percentile = _check_percentile(percentile)
        self.neutral = neutral

    def __call__(self, image, *, step=None, grad=None):
        _check_image(image, "ClipSmallValues")
        if self.percentile == 0:
            return image
        norms = (image - _neutral_like(self.neutral, image)).norm(dim=1)
        return _reset_smallest(image, norms, self.percentile, self.neutral)


#: ``contribution_rule(image [1,3,H,W], grad [1,3,H,W], percentile, fill) -> image [1,3,H,W]``:
#: sets the pixels that contribute least to the objective to ``fill``.
ContributionRule = Callable[[Tensor, Tensor, float, "float | Tensor"], Tensor]


class ClipSmallContributions(Transform):
    """Reset the pixels that contribute least to the objective to the neutral value.

    Yosinski et al. 2015, Sec. 3, "clipping pixels with small contribution" (θ_c_pct).
    Their image is mean-subtracted, so their zero is the neutral colour: setting pixel
    ``p`` to neutral changes the objective by about ``−Σ_c x̃_pc g_pc`` (first-order
    Taylor), with ``x̃ = x − neutral`` and ``g`` the gradient of the objective with
    respect to the image. Which pixels count as small, and what they become, is
    ``contribution_rule(image, grad, percentile, fill)`` (notebook 02's
    ``clip_small_contributions``): this transform hands it the *centred* image ``x̃``
    and ``fill = 0``, one image of the batch at a time, and adds ``neutral`` back to the
    result, so reset pixels become ``neutral`` and the rule's contributions are
    Yosinski's ``|Σ_c x̃_pc · g_pc|``. Needs the gradient: call as ``t(image, grad)`` or
    ``t(image, grad=grad)``, both ``[B, 3, H, W]``.
    """

    needs_grad = True

    def __init__(self, percentile: float, contribution_rule: ContributionRule,
                 neutral: float | Sequence[float] = NEUTRAL):
        self.percentile = _check_percentile(percentile)
        if not callable(contribution_rule):
            raise TypeError("contribution_rule must be a function (image, grad, percentile, fill) -> image, "
                            f"got {type(contribution_rule).__name__}")
        self.contribution_rule = contribution_rule
        self.neutral = neutral

    def __call__(self, image, grad=None, *, step=None):
        _check_image(image, "ClipSmallContributions")
        if self.percentile == 0:
            return image
        if grad is None:
            raise ValueError("ClipSmallContributions needs the gradient: call it as t(image, grad)")
        if grad.shape != image.shape:
            raise ValueError(f"grad shape {tuple(grad.shape)} does not match image shape {tuple(image.shape)}")
        neutral = _neutral_like(self.neutral, image)
        centred = image - neutral
        grad = grad.to(image.dtype)
        out = []
        for b in range(image.shape[0]):
            clipped = self.contribution_rule(centred[b:b + 1], grad[b:b + 1], self.percentile, 0.0)
            if not isinstance(clipped, Tensor) or clipped.shape != centred[b:b + 1].shape:
                got = tuple(clipped.shape) if isinstance(clipped, Tensor) else type(clipped).__name__
                raise ValueError(f"contribution_rule must return an image of shape {tuple(centred[b:b + 1].shape)}, "
                                 f"got {got}")
            out.append(clipped.to(image.dtype))
        return torch.cat(out) + neutral


class L2Decay(Transform):
    """Shrink the image towards the neutral value: ``x ← n + (1 − θ)(x − n)``.

    Yosinski et al. 2015, Sec. 3, "L2 decay" (θ_decay): the proximal step of an L2
    penalty about ``n`` (default :data:`NEUTRAL`, the Caffe mean image). ``θ`` is
    dimensionless, so the paper's values carry over unchanged. ``θ = 0`` is the identity.
    """

    def __init__(self, theta: float, neutral: float | Sequence[float] = NEUTRAL):
        if not 0.0 <= theta <= 1.0:
            raise ValueError(f"theta must be in [0, 1], got {theta!r}")
        self.theta = float(theta)
        self.neutral = neutral

    def __call__(self, image, *, step=None, grad=None):
        if self.theta == 0:
            return image
        n = _neutral_like(self.neutral, image)
        return n + (1.0 - self.theta) * (image - n)


def clamp_pixels(image: Tensor) -> Tensor:
    """Project onto valid pixels: clamp every value to ``[0, 1]`` (any shape)."""
    return image.clamp(0.0, 1.0)


# --------------------------------------------------------------------------- Yosinski presets

@dataclass(frozen=True)
class YosinskiPreset:
    """One row of Table 1 of Yosinski et al. 2015, plus the run settings published with it.

    The four regulariser columns are unit-free or spatial, so they carry over to
    ``[0, 1]`` pixels unchanged:

    * ``decay`` θ_decay: a shrink factor; only its centre matters (:data:`NEUTRAL`,
      where the paper's mean-subtracted zero lies).
    * ``blur_every`` θ_b_every (steps) and ``blur_sigma`` θ_b_width (standard deviation
      in image pixels, measured on 227-pixel CaffeNet inputs; :meth:`blur_sigma_at`
      and ``post_step(image_size=…)`` scale it to another image size).
    * ``norm_percentile`` θ_n_pct and ``contribution_percentile`` θ_c_pct: percentiles
      of per-pixel quantities; scaling the intensities does not change which pixels fall
      below a percentile.

    The learning rate does not carry over as is. For a plain step ``x ← x + lr·∇x`` on
    0–255 input, the same update in ``[0, 1]`` pixels has ``lr / 255²``
    (:attr:`pixel_learning_rate`); a "progress" rate, chosen so the objective rises by a
    fixed amount per step, is scale-free. Both are stated for CaffeNet, whose input
    scale differs from a torchvision model's normalised input, so treat them as a
    starting point.
    """

    name: str
    decay: float
    blur_every: int
    blur_sigma: float
    norm_percentile: float
    contribution_percentile: float
    iterations: int
    lr_policy: str            # "constant" or "progress"
    caffe_learning_rate: float  # lr ("constant") or max_lr ("progress"), 0–255 units
    desired_progress: float | None = None  # "progress" policy: objective increase per step

    @property
    def pixel_learning_rate(self) -> float:
        """``caffe_learning_rate`` converted to [0, 1] pixels (÷ 255²)."""
        return self.caffe_learning_rate / 255.0 ** 2

    def blur_sigma_at(self, image_size: int = YOSINSKI_INPUT_SIZE) -> float:
        """``blur_sigma`` (pixels of a 227-pixel input) scaled to an ``image_size``-pixel
        image: ``blur_sigma · image_size / 227``, so the blur removes the same spatial
        frequencies relative to the image."""
        return self.blur_sigma * float(image_size) / YOSINSKI_INPUT_SIZE

    def post_step(self, neutral: float | Sequence[float] = NEUTRAL,
                  image_size: int = YOSINSKI_INPUT_SIZE,
                  contribution_rule: ContributionRule | None = None) -> list[Transform]:
        """The regularisers of this row in the order the authors' code applies them:
        decay, blur, small-norm clipping, small-contribution clipping. Disabled ones are left out.

        ``neutral`` is the centre of decay and clipping (default: the ImageNet mean colour,
        where the paper's zero lies); ``image_size`` (pixels) scales the blur width
        (:meth:`blur_sigma_at`); the default 227 keeps the table's value.
        ``contribution_rule`` is the rule of :class:`ClipSmallContributions`, needed only
        by rows that clip small contributions (``contribution_sparse``)."""
        out: list[Transform] = []
        if self.decay:
            out.append(L2Decay(self.decay, neutral))
        if self.blur_every and self.blur_sigma:
            out.append(GaussianBlur(self.blur_sigma_at(image_size), every=self.blur_every))
        if self.norm_percentile:
            out.append(ClipSmallValues(self.norm_percentile, neutral))
        if self.contribution_percentile:
            if contribution_rule is None:
                raise ValueError(f"preset {self.name!r} clips small contributions: pass "
                                 "contribution_rule=clip_small_contributions (your function from notebook 02)")
            out.append(ClipSmallContributions(self.contribution_percentile, contribution_rule, neutral))
        return out


# Table 1 of Yosinski et al. 2015 (arXiv:1506.06579), rows in the paper's order. The
# values are those the authors' deep-visualization-toolbox documents as reproducing
# Table 1 (doc/running-optimize-image.md, one command line per row), including the
# iteration counts and learning-rate settings that the table itself does not list.
YOSINSKI_PRESETS: dict[str, YosinskiPreset] = {
    p.name: p
    for p in (
        YosinskiPreset("norm_sparse", decay=0.0, blur_every=4, blur_sigma=0.5,
                       norm_percentile=50, contribution_percentile=0, iterations=500,
                       lr_policy="progress", caffe_learning_rate=100.0, desired_progress=2.0),
        YosinskiPreset("decay_norm", decay=0.3, blur_every=0, blur_sigma=0.0,
                       norm_percentile=20, contribution_percentile=0, iterations=750,
                       lr_policy="constant", caffe_learning_rate=100.0),
        # The row used for most figures of the paper: light decay plus a 1-pixel blur.
        YosinskiPreset("smooth_blur", decay=0.0001, blur_every=4, blur_sigma=1.0,
                       norm_percentile=0, contribution_percentile=0, iterations=1000,
                       lr_policy="constant", caffe_learning_rate=100.0),
        YosinskiPreset("contribution_sparse", decay=0.0, blur_every=4, blur_sigma=0.5,
                       norm_percentile=0, contribution_percentile=90, iterations=1000,
                       lr_policy="progress", caffe_learning_rate=1e8, desired_progress=2.0),
    )
}
