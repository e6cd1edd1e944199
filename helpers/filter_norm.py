"""Gatys's normalised network: every convolution filter rescaled to mean activation 1.

Gatys et al. (2015, "Texture synthesis using convolutional neural networks", §2) used a
VGG-19 "normalised by scaling the weights such that the mean activation of each
convolutional filter over images and positions is equal to one". Texture and style
losses sum fourth powers of activations, so without this their size depends on the
weights (random, torchvision's, Caffe's) and on the input scale; with it, one style
weight means the same for any of them.

How: let ``m_k[c]`` be the mean of the ReLU output of filter ``c`` of convolution ``k``
over a calibration set (every image, every position), measured on the original network.
Because ReLU and pooling commute with a positive per-channel factor, replacing

    W_k[o, i] ← W_k[o, i] · m_{k−1}[i] / m_k[o]        b_k[o] ← b_k[o] / m_k[o]

makes every conv, ReLU and pooling output of layer ``k`` equal to the original divided by
``m_k`` per channel, and so of mean 1 on the calibration set. A filter that never fires
there (``m_k = 0``) is left unscaled (factor 1), counted and logged.

The calibration set is the kit's bundled photos and textures (``data/``), each resized
so that its shorter side is ``size`` px and centre-cropped to ``size × size``. The means
depend on the weights and the pooling, so they are computed once per (architecture,
weights, pooling, size, images) and cached beside torchvision's weight files under
``<torch hub dir>/checkpoints/filter-means/``, in a file whose name includes a hash of
the convolution weights: changed weights never reuse old means.

Only plain chains of ``Conv2d → ReLU (→ pooling)`` are supported (VGG-16/19, AlexNet).
"""
from __future__ import annotations

import copy
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

CALIBRATION_SIZE = 224
# A filter whose mean is below this fraction of its layer's median fires at a handful of
# positions of the calibration set: its mean is no estimate of how strongly it fires, and
# dividing by it would blow up whatever it does on other images. It is left unscaled.
RARE_FRACTION = 1e-3
# Offline setting, for random weights only. A random VGG-19 has many filters that fire at few
# positions of natural images but strongly on noise; rescaled by their small means they
# dominate every Gram matrix and make synthesis from noise ill-conditioned. Measured on
# notebook 06's objective (ihc, 128 px, 60 L-BFGS steps from noise, seed 0): texture loss
# 295 → 16.8 and a picture still noise with 1e-3, 7.7 → 0.0017 and a texture with 1e-1.
OFFLINE_RARE_FRACTION = 1e-1
SUPPORTED = ("vgg16", "vgg19", "alexnet")


@dataclass
class FilterMeans:
    """Mean ReLU activation per filter of each convolution of ``features``, input to output.

    Attributes:
        means: one float64 tensor ``[C_k]`` per convolution, in the order of ``features``.
        conv_indices: the index in ``features`` of each convolution.
        source: ``"computed"`` or ``"cache"`` (where these came from in this process).
        path: the cache file (written or read), or ``None`` when caching failed.
        rare_fraction: filters whose mean is below this fraction of their layer's median are
            left unscaled (``RARE_FRACTION``; ``OFFLINE_RARE_FRACTION`` for random weights).
    """

    means: list[torch.Tensor]
    conv_indices: list[int]
    source: str
    path: Path | None
    rare_fraction: float = RARE_FRACTION

    @property
    def scales(self) -> list[torch.Tensor]:
        """The divisor of each filter: its mean, or 1 for a filter that (almost) never fires."""
        return [torch.where(self.firing(m), m, torch.ones_like(m)) for m in self.means]

    @property
    def dead(self) -> list[int]:
        """Number of filters per convolution left unscaled: they never (or almost never) fire."""
        return [int((~self.firing(m)).sum()) for m in self.means]

    def firing(self, means: torch.Tensor) -> torch.Tensor:
        """Filters of one layer whose mean is positive and at least ``rare_fraction`` of the layer's median."""
        positive = means[means > 0]
        if positive.numel() == 0:
            return means > 0
        return means >= self.rare_fraction * positive.median()


def calibration_images(size: int = CALIBRATION_SIZE) -> torch.Tensor:
    """The bundled samples as one batch ``[N, 3, size, size]`` in [0, 1] (shorter side ``size``, centre crop)."""
    from helpers import images, samples

    batch = [images.center_crop(images.load_image(name, size=size, resize="shortest"), size)
             for name in samples.samples()]
    return torch.cat(batch)


def _calibration_digest(size: int) -> str:
    from helpers import samples

    digest = hashlib.sha256(f"size={size}".encode())
    for name in samples.samples():
        digest.update(name.encode())
        digest.update(samples.sample_path(name).read_bytes())
    return digest.hexdigest()


def _conv_indices(features: nn.Sequential, architecture: str) -> list[int]:
    if architecture not in SUPPORTED:
        raise ValueError(f"normalize_filters is available for {', '.join(SUPPORTED)} "
                         f"(plain Conv2d → ReLU chains), not {architecture!r}")
    layers = list(features)
    indices = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)]
    for i in indices:
        if i + 1 >= len(layers) or not isinstance(layers[i + 1], nn.ReLU):
            raise ValueError(f"{architecture}: features.{i} is not followed by a ReLU; cannot normalise it")
    return indices


def weights_digest(features: nn.Sequential) -> str:
    """SHA-256 of every parameter of ``features`` (names, shapes and bytes), hex."""
    digest = hashlib.sha256()
    for name, tensor in features.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def _pool_as(module: nn.Module, pooling: str) -> nn.Module:
    if pooling == "avg" and isinstance(module, nn.MaxPool2d):
        return nn.AvgPool2d(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode)
    return module


@torch.no_grad()
def measure_filter_means(features: nn.Sequential, architecture: str, batch: torch.Tensor,
                         normalize: nn.Module, pooling: str = "max") -> list[torch.Tensor]:
    """Mean ReLU output per filter of every convolution, over ``batch`` ``[N,3,H,W]`` and all positions.

    ``normalize`` maps [0, 1] pixels to the network's input. Runs one image at a time, in
    float64 on a copy of the network: a filter that barely fires has a mean made of a few
    small, cancelling sums, which float32 rounding would move by up to ~1e-3.
    Returns one ``[C_k]`` float64 tensor per convolution.
    """
    indices = _conv_indices(features, architecture)
    last = indices[-1]
    layers = [copy.deepcopy(_pool_as(m, pooling)).double() for m in list(features)[:last + 2]]
    normalize = copy.deepcopy(normalize).double()
    device = next(features.parameters()).device
    sums = [torch.zeros(features[i].out_channels, dtype=torch.float64) for i in indices]
    positions = [0] * len(indices)
    for image in batch:
        x = normalize(image[None].to(device=device, dtype=torch.float64))
        k = 0
        for i, layer in enumerate(layers):
            x = layer(x) if not isinstance(layer, nn.ReLU) else torch.relu(x)
            if i - 1 in indices and isinstance(layer, nn.ReLU):
                sums[k] += x.double().sum(dim=(0, 2, 3)).cpu()
                positions[k] += x.shape[0] * x.shape[2] * x.shape[3]
                k += 1
    return [s / n for s, n in zip(sums, positions)]


def rescale_(features: nn.Module, conv_names: list[str], scales: list[torch.Tensor]) -> None:
    """Divide the output of each convolution ``conv_names`` of ``features`` by ``scales``, in place.

    ``conv_names`` are module paths (``"features.0"``) in input-to-output order, aligned with
    ``scales`` (positive ``[C_k]``); each convolution's weights also undo the previous one's
    scales. Names missing from ``features`` (a network truncated before them) end the walk.
    """
    previous = None
    for name, scale in zip(conv_names, scales):
        try:
            conv = features.get_submodule(name)
        except AttributeError:
            break
        w = conv.weight.data.double()
        if previous is not None:
            w = w * previous.to(w.device).view(1, -1, 1, 1)
        w = w / scale.to(w.device).view(-1, 1, 1, 1)
        conv.weight.data.copy_(w.to(conv.weight.dtype))
        if conv.bias is not None:
            conv.bias.data.copy_((conv.bias.data.double() / scale.to(conv.bias.device)).to(conv.bias.dtype))
        previous = scale


def cache_path(architecture: str, pooling: str, size: int, wdigest: str, cdigest: str) -> Path:
    """Where the means of one (architecture, weights, pooling, size, images) are kept."""
    from helpers.weights import checkpoints_dir

    return (checkpoints_dir() / "filter-means"
            / f"{architecture}-{pooling}pool-{size}px-w{wdigest[:16]}-c{cdigest[:8]}.pt")


def filter_means(features: nn.Sequential, architecture: str, normalize: nn.Module, *,
                 pooling: str = "max", size: int = CALIBRATION_SIZE,
                 rare_fraction: float = RARE_FRACTION) -> FilterMeans:
    """The calibration means of ``features`` (with ``pooling``), from the cache or computed and cached."""
    indices = _conv_indices(features, architecture)
    path = cache_path(architecture, pooling, size, weights_digest(features), _calibration_digest(size))
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if [int(i) for i in stored["conv_indices"]] == indices:
            return FilterMeans([m.double() for m in stored["means"]], indices, "cache", path, rare_fraction)
    except FileNotFoundError:
        pass
    except Exception as exc:  # an unreadable cache file is recomputed and replaced
        log.warning("filter means cache %s unreadable (%s); computing them again", path, exc)
    means = measure_filter_means(features, architecture, calibration_images(size), normalize, pooling)
    result = FilterMeans(means, indices, "computed", path, rare_fraction)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A private temporary name: two processes may calibrate the same network at once.
        fd, name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            torch.save({"means": means, "conv_indices": torch.tensor(indices)}, tmp)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not cache filter means at %s (%s); they will be computed again next time", path, exc)
        result.path = None
    return result
