"""Input normalisation kept inside the model, so user code only ever sees [0, 1] RGB pixels."""
from __future__ import annotations

import contextlib
from typing import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, for ``[B, 3, H, W]`` inputs in [0, 1].

    ``mean``/``std`` are in [0, 1] pixel units as torchvision's weight metadata gives
    them; a std of ``1/255`` (Caffe-ported weights) yields the 0–255 scale those
    networks were trained on.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std need 3 values (RGB), got {list(mean)} and {list(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std values must be positive, got {list(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class ImageModel(nn.Module):
    """A network that takes ``[B, 3, H, W]`` images in [0, 1] and normalises them itself.

    Attributes:
        net: the underlying torchvision (or toy) network, fed normalised input.
        normalize: the :class:`Normalize` applied first.
        name: architecture name, e.g. ``"vgg19"``.
        weights_label: where the weights came from, e.g. ``"VGG19_Weights.IMAGENET1K_V1"``
            or ``"random (seed 0)"``.
        random_weights: True when the weights are not trained.
        categories: class names for the output logits, or ``None``.
    """

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float], *,
                 name: str, weights_label: str, random_weights: bool,
                 categories: Sequence[str] | None = None):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net
        self.name = name
        self.weights_label = weights_label
        self.random_weights = random_weights
        self.categories = list(categories) if categories is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, self.name)
        with explain_small_input(x, self.name):
            return self.net(self.normalize(x))


def check_image_batch(x: torch.Tensor, model_name: str) -> None:
    """Raise a ``ValueError`` unless ``x`` is a float ``[B,3,H,W]`` batch."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{model_name} expects images [B,3,H,W] in [0,1], got {shape}; "
                         "add a batch dimension with image[None] or convert grey images to RGB")
    if not x.is_floating_point():
        raise ValueError(f"{model_name} expects float images in [0,1], got dtype {x.dtype}; "
                         "divide uint8 images by 255")


@contextlib.contextmanager
def explain_small_input(x: torch.Tensor, model_name: str):
    """Turn pooling's "output size is too small" into a message about the image size."""
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if "too small" not in text and "can't be greater than actual input size" not in text:
            raise
        raise ValueError(
            f"a {x.shape[-2]}×{x.shape[-1]} image is too small for {model_name}: it shrinks to nothing "
            "before the requested layer. Resize it larger (e.g. helpers.images.resize(image, 64)) "
            "or ask for an earlier layer."
        ) from exc
