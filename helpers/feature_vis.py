"""Single channels of intermediate layers as "classes", for visualisation and guided backprop.

Yosinski et al. (2015, Sec. 3 and their layer-by-layer figure) visualise units of every
layer with the same regularised gradient ascent that draws classes: the objective is the
activation of one channel instead of a class score. :class:`ChannelScores` wraps a network
so that its "class scores" ``[B, C]`` are one layer's channels, read at the centre of the
feature map (one unit, as Yosinski et al. do for convolutional layers), at a given
position, or averaged over all positions. Any code written for class scores — notebook
02's ``class_visualization_step``, its saliency and guided-backprop code — then works on
channels unchanged.

:func:`class_selectivity` says which pattern class a channel prefers on a labelled set
(the offline toy network's channels have such meanings; a test checks that climbing a
channel tuned to a pattern draws that pattern).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from helpers.models import FeatureExtractor, ImageModel

__all__ = ["ChannelScores", "class_selectivity", "tuned_channels"]


class ChannelScores(nn.Module):
    """``[B, C]`` activations of one layer's channels, used like class scores.

    Args:
        model: an architecture name (``"alexnet"``, ``"vgg16"``, …) or a loaded
            :class:`~helpers.models.ImageModel` (the toy network).
        layer: the layer's name (``"relu3"``, ``"relu4_3"``, …; see ``helpers.layers``).
        unit: ``"center"`` (the unit at the centre of the map, Yosinski et al.), ``"mean"``
            (the channel averaged over positions) or a position ``(row, column)`` on the map.
        weights, seed, device: as for :class:`~helpers.models.FeatureExtractor`.

    ``forward(images [B, 3, H, W] in [0, 1])`` returns ``[B, C]``; a fully connected layer's
    ``[B, C]`` activations are returned as they are. Gradients flow to the images.
    """

    def __init__(self, model: str | ImageModel, layer: str, *, unit: str | tuple[int, int] = "center",
                 weights="imagenet", seed: int = 0, device: str | torch.device | None = None):
        super().__init__()
        if not (unit in ("center", "mean") or (isinstance(unit, Sequence) and len(unit) == 2)):
            raise ValueError(f"unit must be 'center', 'mean' or a (row, column) position, got {unit!r}")
        self.extractor = FeatureExtractor(model, [layer], weights, seed=seed, device=device)
        self.layer, self.unit = layer, unit
        self.random_weights = self.extractor.random_weights
        self.weights_label = self.extractor.weights_label

    def activations(self, images: Tensor) -> Tensor:
        """The layer's activations ``[B, C, H_l, W_l]`` (or ``[B, C]`` for a fully connected layer)."""
        return self.extractor(images)[self.layer]

    def forward(self, images: Tensor) -> Tensor:
        a = self.activations(images)
        if a.dim() == 2:
            return a
        if self.unit == "mean":
            return a.mean(dim=(2, 3))
        if self.unit == "center":
            return a[:, :, a.shape[2] // 2, a.shape[3] // 2]
        row, col = self.unit
        if not (0 <= row < a.shape[2] and 0 <= col < a.shape[3]):
            raise ValueError(f"unit position {self.unit} is outside the {tuple(a.shape[2:])} map of {self.layer}")
        return a[:, :, row, col]


@torch.no_grad()
def class_selectivity(scores: nn.Module, images: Tensor, labels: Tensor, num_classes: int,
                      batch: int = 256) -> tuple[Tensor, Tensor]:
    """Which class each channel prefers, and how strongly.

    Args:
        scores: ``images -> [B, C]`` (a :class:`ChannelScores` with ``unit="mean"``).
        images: ``[N, 3, H, W]`` in [0, 1]; labels: ``[N]`` class indices in ``[0, num_classes)``.

    Returns:
        ``(preferred [C], selectivity [C])``: the class with the largest mean activation, and
        that mean divided by the mean over all classes (1 = no preference).
    """
    acts = torch.cat([scores(images[i:i + batch]) for i in range(0, len(images), batch)]).float()
    labels = labels.to(acts.device)
    means = torch.stack([acts[labels == k].mean(dim=0) for k in range(num_classes)])      # [K, C]
    best, preferred = means.max(dim=0)
    return preferred, best / means.mean(dim=0).clamp_min(1e-12)


def tuned_channels(scores: nn.Module, images: Tensor, labels: Tensor, num_classes: int, count: int, *,
                   start: Tensor | None = None, skip_classes: Sequence[int] = ()) -> list[tuple[int, int]]:
    """The ``count`` most selective channels, at most one per class: ``[(channel, class)]``.

    Channels whose preferred class is in ``skip_classes`` are left out, and so are channels
    that are exactly 0 on ``start`` (the image an ascent starts from): a dead unit has no
    gradient to climb.
    """
    preferred, selectivity = class_selectivity(scores, images, labels, num_classes)
    alive = torch.ones_like(selectivity, dtype=torch.bool)
    if start is not None:
        with torch.no_grad():
            alive = scores(start)[0].float().cpu() > 0
    chosen, classes = [], set()
    for c in selectivity.argsort(descending=True).tolist():
        k = int(preferred[c])
        if k in classes or k in skip_classes or not bool(alive[c]):
            continue
        chosen.append((c, k))
        classes.add(k)
        if len(chosen) == count:
            break
    return chosen
