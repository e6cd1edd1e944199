"""The image transformation network of Johnson, Alahi & Fei-Fei (2016), *Perceptual losses
for real-time style transfer and super-resolution*, supplementary Table 1.

Layout (channels × kernel, stride)::

    9×9 conv 32, IN, ReLU          (reflection padding everywhere: no border artefacts)
    3×3 conv 64 /2, IN, ReLU
    3×3 conv 128 /2, IN, ReLU
    5 residual blocks of 128       (3×3 conv, IN, ReLU, 3×3 conv, IN, + input)
    nearest upsample ×2, 3×3 conv 64, IN, ReLU
    nearest upsample ×2, 3×3 conv 32, IN, ReLU
    9×9 conv 3

Three choices follow PyTorch's official ``fast_neural_style`` example rather than the
paper, so that the checkpoints published with that example load unchanged: instance
normalisation (Ulyanov et al. 2016) instead of batch normalisation, nearest-neighbour
upsampling followed by a convolution instead of fractionally strided convolutions, and
padded residual blocks instead of the paper's unpadded ones with cropping. Module names
match that example's (``conv1.conv2d``, ``in1``, ``res1.conv1.conv2d`` … ``deconv3.conv2d``).

Pixel range: the kit's images are ``[B, 3, H, W]`` in [0, 1]. The official checkpoints
were trained on 0–255 pixels, so a network carries ``value_range`` (1 or 255): inputs are
multiplied by it before the first layer and outputs divided by it after the last. The kit
trains its own networks with 255 too (``helpers.fast_style.TRAINING_VALUE_RANGE``), so the
official example's loss weights and learning rate mean the same for them.

Odd sizes: each stride-2 layer rounds ``H`` up, so upsampling by 2 could overshoot by a
pixel; the upsampling here goes to the exact size of the matching encoder stage instead,
and the output always has the input's height and width.
"""
from __future__ import annotations

import contextlib
import re
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from helpers.devices import autocast_factory
from helpers.errors import KitError

Tensor = torch.Tensor

__all__ = ["TransformerNet", "CheckpointError", "convert_official_state_dict", "describe", "load_transformer"]

MIN_SIZE = 5
OBSOLETE_KEY = re.compile(r"(^|\.)in\d+\.running_(mean|var)$|(^|\.)in\d+\.num_batches_tracked$")


class CheckpointError(KitError, ValueError):
    """A state dict that does not fit :class:`TransformerNet`; the message lists the keys."""


class ConvLayer(nn.Module):
    """Reflection padding by ``kernel_size // 2`` then a convolution: ``[B,Cin,H,W] → [B,Cout,⌈H/s⌉,⌈W/s⌉]``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.pad = kernel_size // 2
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2d(F.pad(x, [self.pad] * 4, mode="reflect"))


class ResidualBlock(nn.Module):
    """``x + IN(conv(ReLU(IN(conv(x)))))`` with 3×3 convolutions; keeps the shape (He et al. 2016)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(y))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsampling to ``size`` then :class:`ConvLayer` (avoids checkerboard artefacts,
    Odena et al. 2016)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.pad = kernel_size // 2
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        x = F.interpolate(x, size=size, mode="nearest")
        return self.conv2d(F.pad(x, [self.pad] * 4, mode="reflect"))


class TransformerNet(nn.Module):
    """Feed-forward stylisation network: ``[B, 3, H, W]`` in [0, 1] → ``[B, 3, H, W]``.

    The output is not clamped (training needs the gradient of out-of-range pixels); use
    :meth:`stylize` for display-ready images in [0, 1].

    Args:
        value_range: 255.0 for the official example's checkpoints and for networks the kit
            trains in the example's units; 1.0 for a network whose raw output is in [0, 1]
            (see the module docstring).
        residual_blocks: 5 in Johnson et al. 2016.
    """

    def __init__(self, value_range: float = 1.0, residual_blocks: int = 5):
        super().__init__()
        if value_range not in (1.0, 255.0):
            raise ValueError(f"value_range must be 1.0 (kit) or 255.0 (official checkpoints), got {value_range!r}")
        self.value_range = float(value_range)
        self.conv1 = ConvLayer(3, 32, 9)
        self.in1 = nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, 3, stride=2)
        self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, 3, stride=2)
        self.in3 = nn.InstanceNorm2d(128, affine=True)
        for i in range(1, residual_blocks + 1):
            self.add_module(f"res{i}", ResidualBlock(128))
        self.residual_blocks = residual_blocks
        self.deconv1 = UpsampleConvLayer(128, 64, 3)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, 3)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, 9)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"TransformerNet expects images [B, 3, H, W], got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_SIZE:
            raise ValueError(f"TransformerNet needs images of at least {MIN_SIZE}×{MIN_SIZE} pixels "
                             f"(the 9×9 layers pad by reflecting 4 pixels), "
                             f"got {x.shape[-2]}×{x.shape[-1]}")
        full = x.shape[-2:]
        y = F.relu(self.in1(self.conv1(x * self.value_range)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for i in range(1, self.residual_blocks + 1):
            y = getattr(self, f"res{i}")(y)
        y = F.relu(self.in4(self.deconv1(y, _half_size(full))))
        y = F.relu(self.in5(self.deconv2(y, full)))
        return self.deconv3(y) / self.value_range

    @torch.no_grad()
    def stylize(self, image: Tensor, batch_size: int = 8, autocast=None) -> Tensor:
        """Stylise ``[B, 3, H, W]`` (or ``[3, H, W]``) in eval mode, without gradients, in batches.

        ``autocast``: a ``devices.Profile`` or a factory of a context manager (e.g. a profile's
        bfloat16) for the forward pass. Returns float32 images clamped to [0, 1]."""
        context = autocast_factory(autocast) or contextlib.nullcontext
        single = image.dim() == 3
        x = image.unsqueeze(0) if single else image
        was_training = self.training
        self.eval()
        try:
            param = next(self.parameters())
            with context():
                out = torch.cat([self(chunk.to(param.device, param.dtype)).float().clamp(0, 1)
                                 for chunk in x.split(batch_size)])
        finally:
            self.train(was_training)
        return out[0] if single else out


def describe(net: TransformerNet, size: tuple[int, int] = (256, 256)) -> list[tuple[str, str, tuple, int]]:
    """``(name, layer, output shape [C, H, W], parameters)`` per stage for one ``size`` input."""
    rows = []
    hooks = []
    stages = ["conv1", "in1", "conv2", "in2", "conv3", "in3"] + [f"res{i}" for i in range(1, net.residual_blocks + 1)] \
        + ["deconv1", "in4", "deconv2", "in5", "deconv3"]
    for name in stages:
        module = getattr(net, name)
        def hook(mod, inp, out, name=name):
            params = sum(p.numel() for p in mod.parameters())
            kind = type(mod).__name__
            if hasattr(mod, "conv2d"):
                c = mod.conv2d
                kind = f"{'upsample + ' if isinstance(mod, UpsampleConvLayer) else ''}" \
                       f"{c.kernel_size[0]}×{c.kernel_size[1]} conv" \
                       f"{f', stride {c.stride[0]}' if c.stride[0] > 1 else ''}"
            elif isinstance(mod, nn.InstanceNorm2d):
                kind = "instance norm + ReLU"
            elif isinstance(mod, ResidualBlock):
                kind = "residual block"
            rows.append((name, kind, tuple(out.shape[1:]), params))
        hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, *size, device=next(net.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    return rows


def _half_size(size) -> tuple[int, int]:
    """Spatial size after one stride-2 :class:`ConvLayer` with kernel 3 (reflection pad 1): ⌈n/2⌉."""
    return tuple((int(n) + 1) // 2 for n in size)


def convert_official_state_dict(state_dict: dict) -> "OrderedDict[str, Tensor]":
    """Drop the obsolete InstanceNorm ``in*.running_mean/var`` keys the official example's older
    checkpoints carry (and a ``module.`` prefix left by DataParallel)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if OBSOLETE_KEY.search(key):
            continue
        out[key] = value
    return out


def load_transformer(source, value_range: float | None = None, map_location="cpu") -> TransformerNet:
    """A :class:`TransformerNet` from a checkpoint file or a state dict.

    Accepts the official example's plain state dicts (``value_range`` 255 unless given) and
    the kit's own checkpoints (a dict with ``"model"`` and ``"value_range"``; see
    :mod:`helpers.checkpoints`). Missing or unexpected keys raise :class:`CheckpointError`
    naming them and the file.
    """
    label = "state dict"
    state = source
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}; train one or run `python -m helpers download styles`")
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - re-raised with the file's name
            raise CheckpointError(f"{path} could not be read as a PyTorch checkpoint "
                                  f"({type(exc).__name__}: {exc}); download or train it again.") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{label}: expected a state dict, got {type(state).__name__}")
    if "model" in state and isinstance(state["model"], dict):
        value_range = state.get("value_range", 1.0) if value_range is None else value_range
        state = state["model"]
    elif value_range is None:
        value_range = 255.0
    state = convert_official_state_dict(state)
    blocks = len({k.split(".")[0] for k in state if re.match(r"res\d+\.", k)}) or 5
    net = TransformerNet(value_range=value_range, residual_blocks=blocks)
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        if wrong:
            parts.append("wrong shapes " + _few([f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})"
                                                 for k in wrong]))
        raise CheckpointError(f"{label} is not a TransformerNet checkpoint: " + "; ".join(parts))
    net.load_state_dict(state)
    return net.eval()


def _few(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" … ({len(items) - limit} more)" if len(items) > limit else "")
