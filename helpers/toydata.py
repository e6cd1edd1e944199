"""Procedural labelled colour images: textures inside a known region on a plain background.

Each image shows one of :data:`CLASSES` — a texture drawn in two random colours
inside a random rectangle or disc (30–60 % of the image) on a plain, weakly noisy
background of a third random colour. Colours are drawn the same way for every
class, so only the pattern tells the classes apart, and the region's mask is
returned so a test can check that an explanation points at the pattern.

Pattern scales are in pixels (tuned for 32×32) and do not grow with the image,
so a 64×64 image shows more repeats of the same texture rather than a zoomed one.

All randomness comes from a caller-supplied :class:`torch.Generator`; the global
RNG state is never touched.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CLASSES: tuple[str, ...] = (
    "stripes", "checkerboard", "dots", "rings", "gradient", "zigzag", "crosses", "blobs",
)

#: Range of the area fraction covered by the pattern region (on pixel centres the
#: masks cover about 27–63 % of the image).
REGION_FRACTION = (0.3, 0.6)
#: Per-image noise std (pixel units) is drawn uniformly from this range.
NOISE_STD = (0.0, 0.04)
#: Colours are resampled until pattern colours differ by at least this much (RGB
#: Euclidean distance) and each differs from the background by at least _MIN_BG_DIST.
_MIN_CONTRAST = 0.45
_MIN_BG_DIST = 0.3


def _uniform(g: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    """``[n, 1, 1]`` uniform samples in ``[lo, hi)``, ready to broadcast over ``[n, H, W]``."""
    return (lo + (hi - lo) * torch.rand(n, generator=g)).view(n, 1, 1)


def _soft(signed_dist: torch.Tensor) -> torch.Tensor:
    """Coverage in [0, 1] from a signed distance in pixels (positive inside): ~1 px anti-aliasing."""
    return (0.5 + signed_dist).clamp(0.0, 1.0)


def _periodic_sd(coord: torch.Tensor, period: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """Approximate signed distance (pixels) to the edges of a square-wave along ``coord``."""
    return torch.sin(2 * math.pi * coord / period + phase) * period / (2 * math.pi)


def _lattice_offsets(u: torch.Tensor, v: torch.Tensor, period: torch.Tensor,
                     g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets (pixels) from the nearest point of a randomly shifted square lattice."""
    n = u.shape[0]
    su = _uniform(g, n, 0, 1) * period
    sv = _uniform(g, n, 0, 1) * period
    du = torch.remainder(u + su, period) - period / 2
    dv = torch.remainder(v + sv, period) - period / 2
    return du, dv


def _pattern(name: str, x: torch.Tensor, y: torch.Tensor, g: torch.Generator,
             extent: torch.Tensor) -> torch.Tensor:
    """Pattern coverage ``[n, H, W]`` in [0, 1] for pixel coordinates ``x, y`` ``[n, H, W]``.

    ``x, y`` are in pixels, centred on the region; ``extent`` ``[n, 1, 1]`` is the
    region's size in pixels (square root of its area).
    """
    n = x.shape[0]
    theta = _uniform(g, n, 0, 2 * math.pi)
    cos, sin = torch.cos(theta), torch.sin(theta)
    u = x * cos + y * sin
    v = -x * sin + y * cos
    phase = _uniform(g, n, 0, 2 * math.pi)
    if name == "stripes":
        return _soft(_periodic_sd(u, _uniform(g, n, 4.0, 8.0), phase))
    if name == "checkerboard":
        period = _uniform(g, n, 6.0, 10.0)
        su = torch.sin(2 * math.pi * u / period + phase)
        sv = torch.sin(2 * math.pi * v / period + _uniform(g, n, 0, 2 * math.pi))
        return _soft(su * sv * period / (2 * math.pi))
    if name == "dots":
        period = _uniform(g, n, 6.0, 9.0)
        du, dv = _lattice_offsets(u, v, period, g)
        radius = period * _uniform(g, n, 0.22, 0.32)
        return _soft(radius - torch.sqrt(du ** 2 + dv ** 2))
    if name == "rings":
        cx = _uniform(g, n, -0.15, 0.15) * extent
        cy = _uniform(g, n, -0.15, 0.15) * extent
        dist = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        return _soft(_periodic_sd(dist, _uniform(g, n, 4.0, 7.0), phase))
    if name == "gradient":
        return (0.5 + u / (extent * _uniform(g, n, 0.8, 1.1))).clamp(0.0, 1.0)
    if name == "zigzag":
        zig_period = _uniform(g, n, 6.0, 10.0)
        amp = zig_period * _uniform(g, n, 0.3, 0.5)
        tri = 2 * torch.abs(2 * torch.remainder(v / zig_period, 1.0) - 1) - 1  # triangle wave in [-1, 1]
        return _soft(_periodic_sd(u + amp * tri, _uniform(g, n, 5.0, 8.0), phase))
    if name == "crosses":
        period = _uniform(g, n, 8.0, 11.0)
        du, dv = _lattice_offsets(u, v, period, g)
        arm = period * _uniform(g, n, 0.3, 0.4)
        half_width = _uniform(g, n, 0.8, 1.3)
        bar_h = torch.minimum(arm - du.abs(), half_width - dv.abs())
        bar_v = torch.minimum(arm - dv.abs(), half_width - du.abs())
        return _soft(torch.maximum(bar_h, bar_v))
    if name == "blobs":
        h, w = x.shape[1:]
        cells = max(2, round(max(h, w) / 6))
        coarse = torch.randn(n, 1, cells, cells, generator=g)
        field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[:, 0]
        field = field / field.flatten(1).std(dim=1).clamp_min(1e-6).view(n, 1, 1)
        return _soft(field * 3.0)
    raise ValueError(f"unknown pattern {name!r}; expected one of {', '.join(CLASSES)}")


def _region(n: int, size: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random rectangles / discs: ``(mask [n,S,S] bool, x [n,S,S], y [n,S,S], extent [n,1,1])``.

    ``x, y`` are pixel coordinates relative to the region's centre.
    """
    area = _uniform(g, n, *REGION_FRACTION) * size * size
    aspect = torch.exp(_uniform(g, n, math.log(0.7), math.log(1.4)))
    is_disc = torch.rand(n, generator=g).view(n, 1, 1) < 0.5
    half_w = torch.where(is_disc, torch.sqrt(area / math.pi), torch.sqrt(area * aspect) / 2)
    half_h = torch.where(is_disc, torch.sqrt(area / math.pi), torch.sqrt(area / aspect) / 2)
    half_w = half_w.clamp(max=0.47 * size)
    half_h = half_h.clamp(max=0.47 * size)
    cx = half_w + _uniform(g, n, 0, 1) * (size - 2 * half_w)
    cy = half_h + _uniform(g, n, 0, 1) * (size - 2 * half_h)
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    x = coords.view(1, 1, size) - cx
    y = coords.view(1, size, 1) - cy
    in_rect = (x.abs() <= half_w) & (y.abs() <= half_h)
    in_disc = (x / half_w) ** 2 + (y / half_h) ** 2 <= 1.0
    mask = torch.where(is_disc, in_disc, in_rect)
    x, y = x.expand(n, size, size), y.expand(n, size, size)
    return mask, x, y, torch.sqrt(area)


def _colours(n: int, g: torch.Generator, tries: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two pattern colours and a background colour, each ``[n, 3]`` in [0, 1], well separated."""
    cand = torch.rand(tries, n, 3, 3, generator=g)  # [try, image, which colour, rgb]
    a, b, bg = cand[:, :, 0], cand[:, :, 1], cand[:, :, 2]
    ok = ((a - b).norm(dim=-1) >= _MIN_CONTRAST) & ((a - bg).norm(dim=-1) >= _MIN_BG_DIST) \
        & ((b - bg).norm(dim=-1) >= _MIN_BG_DIST)
    # index of the first acceptable try (the last try if none is; vanishingly rare)
    first = torch.where(ok.any(dim=0), ok.float().argmax(dim=0), torch.full((n,), tries - 1))
    pick = cand[first, torch.arange(n)]
    return pick[:, 0], pick[:, 1], pick[:, 2]


def render(class_name: str, size: int = 32, generator: torch.Generator | None = None,
           n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` images of one class.

    Args:
        class_name: one of :data:`CLASSES`.
        size: image side in pixels (patterns are tuned for 32–64).
        generator: source of randomness; a fresh one seeded with 0 when ``None``.
        n: how many images.

    Returns:
        ``(images, masks)``: ``images`` float32 ``[n, 3, size, size]`` in [0, 1];
        ``masks`` bool ``[n, size, size]``, True where the pattern region is.
    """
    if class_name not in CLASSES:
        raise ValueError(f"unknown class {class_name!r}; expected one of {', '.join(CLASSES)}")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    mask, x, y, extent = _region(n, size, g)
    t = _pattern(class_name, x, y, g, extent).unsqueeze(1)               # [n,1,S,S]
    a, b, bg = (c.view(n, 3, 1, 1) for c in _colours(n, g))
    fg = a * t + b * (1 - t)
    m = mask.unsqueeze(1).float()
    img = fg * m + bg * (1 - m)
    noise_std = _uniform(g, n, *NOISE_STD).view(n, 1, 1, 1)
    img = img + noise_std * torch.randn(n, 3, size, size, generator=g)
    return img.clamp(0.0, 1.0), mask


def make_dataset(n: int, size: int = 32, seed: int = 0, return_masks: bool = False):
    """A shuffled, class-balanced set of ``n`` images (class counts differ by at most one).

    Args:
        n: number of images.
        size: image side in pixels.
        seed: the same seed always gives the same images, labels and masks.
        return_masks: also return the pattern masks.

    Returns:
        ``(images, labels)`` or ``(images, labels, masks)``: ``images`` float32
        ``[n, 3, size, size]`` in [0, 1]; ``labels`` int64 ``[n]`` indexing
        :data:`CLASSES`; ``masks`` bool ``[n, size, size]``.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    g = torch.Generator().manual_seed(int(seed))
    labels = (torch.arange(n) % len(CLASSES))[torch.randperm(n, generator=g)]
    images = torch.empty(n, 3, size, size)
    masks = torch.empty(n, size, size, dtype=torch.bool)
    for k, name in enumerate(CLASSES):
        idx = (labels == k).nonzero().flatten()
        if len(idx):
            images[idx], masks[idx] = render(name, size, g, n=len(idx))
    return (images, labels, masks) if return_masks else (images, labels)
