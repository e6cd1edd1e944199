"""Colour: YIQ, luminance and histogram matching; keeping the content's colours in style
transfer (Gatys et al. 2016b, "Preserving Color in Neural Artistic Style Transfer",
luminance-only transfer).

Luminance-only transfer runs the style transfer on grey images (luminance copied to the
three channels) and then puts the result's luminance together with the content's
chrominance (the I and Q channels of YIQ). Images are ``[B, 3, H, W]`` in [0, 1].
"""
from __future__ import annotations

import numpy as np
import torch

from helpers.images import as_batch, from_numpy, resize, to_numpy


def match_histogram(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Give ``source`` the per-channel colour histogram of ``reference``.

    ``source``: ``[3,H,W]`` or ``[B,3,H,W]`` (each image matched separately);
    ``reference``: one image ``[3,h,w]``/``[1,3,h,w]``, any size. Returns a tensor of
    ``source``'s shape, dtype and device, in [0, 1]. Not differentiable.
    """
    from skimage.exposure import match_histograms

    ref = to_numpy(as_batch(reference))
    batch = as_batch(source)
    matched = [
        from_numpy(match_histograms(to_numpy(img), ref, channel_axis=-1).astype(np.float32))
        for img in batch
    ]
    out = torch.cat(matched).to(device=source.device,
                                dtype=source.dtype if source.is_floating_point() else torch.float32)
    return out if source.dim() == 4 else out[0]


# NTSC YIQ (FCC 1953 coefficients). Y is luma; I and Q carry the colour.
_RGB_TO_YIQ = torch.tensor([
    [0.299, 0.587, 0.114],
    [0.595716, -0.274453, -0.321263],
    [0.211456, -0.522591, 0.311135],
], dtype=torch.float64)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply_colour_matrix(image: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    if image.dim() < 3 or image.shape[-3] != 3:
        raise ValueError(f"expected [...,3,H,W] with 3 colour channels, got shape {tuple(image.shape)}")
    m = matrix.to(device=image.device, dtype=image.dtype)
    return torch.einsum("ij,...jhw->...ihw", m, image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """RGB ``[...,3,H,W]`` in [0,1] → YIQ: Y in [0,1], I in ±0.596, Q in ±0.523. Differentiable."""
    return _apply_colour_matrix(image, _RGB_TO_YIQ)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """YIQ ``[...,3,H,W]`` → RGB (not clamped, so the round trip is exact up to float error)."""
    return _apply_colour_matrix(image, _YIQ_TO_RGB)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Luma Y of RGB ``[...,3,H,W]`` → ``[...,1,H,W]`` (the Y of :func:`rgb_to_yiq`)."""
    return rgb_to_yiq(image)[..., :1, :, :]


# --------------------------------------------------------------------------- luminance-only transfer


def grey_rgb(image: torch.Tensor) -> torch.Tensor:
    """The luminance of ``image`` repeated in three channels ``[B, 3, H, W]``."""
    return luminance(image).expand(-1, 3, -1, -1).clone()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Style luminance with its histogram matched to the content's (Gatys et al. 2016b, §2.2)."""
    return grey_rgb(match_histogram(grey_rgb(style), grey_rgb(content)))


def combine_luminance(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylised image's luminance with the content's I and Q channels, back in RGB, clamped."""
    if stylised.shape[-2:] != content.shape[-2:]:
        content = resize(content, tuple(stylised.shape[-2:]))
    yiq = rgb_to_yiq(content).clone()
    yiq[..., :1, :, :] = luminance(stylised)
    return yiq_to_rgb(yiq).clamp(0, 1)
