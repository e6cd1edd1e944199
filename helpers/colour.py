"""Colour handling for style transfer: keep the content's colours (Gatys et al. 2016b,
"Preserving Color in Neural Artistic Style Transfer", luminance-only transfer).

Luminance-only transfer runs the style transfer on grey images (luminance copied to the
three channels) and then puts the result's luminance together with the content's
chrominance (the I and Q channels of YIQ). Images are ``[B, 3, H, W]`` in [0, 1].
"""
from __future__ import annotations

import torch

from helpers.images import luminance, match_histogram, rgb_to_yiq, yiq_to_rgb


def grey_rgb(image: torch.Tensor) -> torch.Tensor:
    """The luminance of ``image`` repeated in three channels ``[B, 3, H, W]``."""
    return luminance(image).expand(-1, 3, -1, -1).clone()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Style luminance with its histogram matched to the content's (Gatys et al. 2016b, §2.2)."""
    return grey_rgb(match_histogram(grey_rgb(style), grey_rgb(content)))


def combine_luminance(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylised image's luminance with the content's I and Q channels, back in RGB, clamped."""
    if stylised.shape[-2:] != content.shape[-2:]:
        content = torch.nn.functional.interpolate(content, size=stylised.shape[-2:], mode="bilinear",
                                                  align_corners=False)
    yiq = rgb_to_yiq(content).clone()
    yiq[..., :1, :, :] = luminance(stylised)
    return yiq_to_rgb(yiq).clamp(0, 1)
