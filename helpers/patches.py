"""Plumbing for maximally activating patches (Zeiler & Fergus 2014, Fig. 2 "Layer 2").

A unit of a convolutional layer sees a square window of the input image, its receptive
field. To show what a channel responds to, one finds the positions where it is most
active over a set of images and crops the receptive field of each. This module does the
parts that are not the lecture's idea:

* :func:`layer_geometry` / :func:`conv_layers` walk a torchvision ``features``
  ``nn.Sequential`` into ``(kernel_size, stride, padding, dilation)`` tuples, one per
  convolution or pooling, in order (ReLU, batch norm, dropout and local response
  normalisation act on each position alone and are skipped);
* :func:`top_positions` picks the strongest activations of one channel over a batch,
  spread out so that one image region is not shown nine times;
* :func:`crop_square` cuts a square out of an image, filling what lies outside the
  image with a constant colour, so every patch of a layer has the same size.

How big the window is and how far it moves per unit (the receptive-field recurrence) is
the student's ``receptive_field`` in notebook 01; nothing here computes it.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from helpers.layers import resolve_layers

__all__ = ["Geometry", "layer_geometry", "conv_layers", "top_positions", "crop_square"]

#: ``(kernel_size, stride, padding, dilation)`` of one layer along one axis, in pixels
#: of that layer's input.
Geometry = tuple[int, int, int, int]

# Modules that act on every position separately: they do not change the receptive field.
_POINTWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Identity, nn.Dropout,
              nn.Dropout2d, nn.BatchNorm2d, nn.LocalResponseNorm)


def _square(value, what: str, module: nn.Module) -> int:
    """An int from an int or a pair of equal ints (``nn.Conv2d`` stores pairs)."""
    if isinstance(value, str):
        raise ValueError(f"{module!r}: padding {value!r} is not a number of pixels; give it explicitly")
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ValueError(f"{module!r}: {what} {tuple(value)} differs between the axes; "
                             "only square kernels, strides and paddings are supported")
        value = value[0]
    return int(value)


def layer_geometry(module: nn.Module) -> Geometry | None:
    """``(kernel_size, stride, padding, dilation)`` of a ``Conv2d``, ``MaxPool2d`` or
    ``AvgPool2d`` (ints, pixels of its input); ``None`` for a per-position module
    (ReLU, batch norm, dropout, LRN).

    Raises ``ValueError`` for anything else (an adaptive pooling, a block of branches),
    whose window is not one fixed square.
    """
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        dilation = getattr(module, "dilation", 1)   # AvgPool2d has none
        return (_square(module.kernel_size, "kernel_size", module), _square(module.stride, "stride", module),
                _square(module.padding, "padding", module), _square(dilation, "dilation", module))
    if isinstance(module, _POINTWISE):
        return None
    raise ValueError(f"{type(module).__name__} has no fixed square window; receptive fields can be "
                     "walked through convolutions, poolings and per-position layers only")


def _features(model: nn.Module) -> nn.Sequential:
    net = getattr(model, "net", model)            # an ImageModel wraps the torchvision network
    features = getattr(net, "features", None)
    if not isinstance(features, nn.Sequential):
        raise ValueError(f"{type(net).__name__} has no `features` nn.Sequential to walk")
    return features


def conv_layers(model: nn.Module, layer: str) -> list[Geometry]:
    """The geometry of every convolution and pooling from the input up to ``layer`` (included).

    Args:
        model: an :class:`~helpers.normalize.ImageModel` (or a torchvision network) with a
            ``features`` ``nn.Sequential``: AlexNet, VGG, the toy network.
        layer: a paper layer name of that model (``"conv2"``, ``"relu4_3"``) or a module
            path inside ``features`` (``"features.8"``).

    Returns:
        ``[(kernel_size, stride, padding, dilation), …]`` in the order the layers run.
    """
    features = _features(model)
    name = getattr(model, "name", None)
    node = resolve_layers(name, [layer])[0].node if name and not layer.startswith("features.") else layer
    if not node.startswith("features."):
        raise ValueError(f"layer {layer!r} ({node}) is not inside `features`; pick a convolutional layer")
    last = int(node.split(".")[1])
    out = []
    for module in list(features)[: last + 1]:
        geometry = layer_geometry(module)
        if geometry is not None:
            out.append(geometry)
    return out


def top_positions(activations: torch.Tensor, k: int, min_distance: int = 1) -> list[tuple[int, int, int, float]]:
    """The ``k`` strongest activations of one channel over a batch, spread out.

    Args:
        activations: ``[N, h, w]``, one channel's map for each of N images.
        k: how many positions to return (fewer when the maps run out of positions).
        min_distance: two picks in the same image are at least this many units apart
            (Chebyshev distance); 1 only forbids picking a position twice.

    Returns:
        ``[(image index, row, col, value), …]``, strongest first (rows and columns in units
        of the layer's map). Greedy: the next pick is the strongest position not within
        ``min_distance − 1`` units of an earlier pick of its image.
    """
    if activations.dim() != 3:
        raise ValueError(f"expected one channel's maps [N, h, w], got {tuple(activations.shape)}")
    maps = activations.detach().float().cpu().clone()
    n, h, w = maps.shape
    r = max(int(min_distance), 1) - 1
    picks = []
    for _ in range(min(int(k), maps.numel())):
        flat = int(maps.argmax())
        value = float(maps.view(-1)[flat])
        if value == float("-inf"):
            break
        i, rest = divmod(flat, h * w)
        row, col = divmod(rest, w)
        picks.append((i, row, col, value))
        maps[i, max(row - r, 0): row + r + 1, max(col - r, 0): col + r + 1] = float("-inf")
    return picks


def crop_square(image: torch.Tensor, top: int, left: int, size: int,
                fill: float | Sequence[float] = 0.5) -> torch.Tensor:
    """The ``size × size`` square of ``image`` whose top-left pixel is ``(top, left)``.

    Args:
        image: ``[3, H, W]`` or ``[1, 3, H, W]`` in [0, 1].
        top, left: may be negative or run past the image (a border unit's field
            reaches into the zero padding).
        size: side in pixels.
        fill: value (or RGB triple) of the pixels outside the image.

    Returns:
        ``[3, size, size]``: the image where the square overlaps it, ``fill`` elsewhere.
    """
    img = image[0] if image.dim() == 4 else image
    if img.dim() != 3:
        raise ValueError(f"expected an image [3, H, W] or [1, 3, H, W], got {tuple(image.shape)}")
    c, h, w = img.shape
    size, top, left = int(size), int(top), int(left)
    out = torch.as_tensor(fill, dtype=img.dtype, device=img.device).reshape(-1, 1, 1).expand(c, size, size).clone()
    y0, y1 = max(top, 0), min(top + size, h)
    x0, x1 = max(left, 0), min(left + size, w)
    if y0 < y1 and x0 < x1:
        out[:, y0 - top: y1 - top, x0 - left: x1 - left] = img[:, y0:y1, x0:x1]
    return out
