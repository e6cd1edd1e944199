"""Pretrained CNNs and their features, taking ``[B, 3, H, W]`` images in [0, 1].

``load_model(name, weights)`` returns an :class:`~helpers.normalize.ImageModel` (it
normalises inside, with the mean and std of the weights' own metadata) that outputs
logits. ``FeatureExtractor(name, layers)`` returns ``{layer_name: tensor}`` for paper
layer names, running the network only as far as the deepest requested layer.

``weights`` is one of:

* ``"imagenet"`` — torchvision's default ImageNet weights (downloaded once, cached, hash-checked);
* ``"caffe"`` (VGG-16 only) — ``VGG16_Weights.IMAGENET1K_FEATURES``, ported from Caffe:
  0–255 input scale, its own means, no classifier (features only);
* a torchvision enum or its name, e.g. ``"IMAGENET1K_V1"``;
* ``"random"`` — seeded random initialisation (``seed`` argument), for offline work; marked
  as such on every figure and in the log;
* a path to a state-dict file for the architecture.

When ``"imagenet"`` weights cannot be had, :class:`~helpers.errors.WeightsUnavailableError`
names the fix. ``$KIT_ALLOW_RANDOM_WEIGHTS=1`` (the demo sets it) turns that into a loud
fallback to random weights instead; ``$KIT_REQUIRE_WEIGHTS=1`` forbids the fallback.
Grading mode (``$NBGRADER_EXECUTION``) always uses random weights: no network, same marks
on every machine.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Iterable, Sequence

import torch
import torchvision.models as tvm
from torch import nn
from torchvision.models import WeightsEnum

from helpers import filter_norm, provenance
from helpers import layers as layer_tables
from helpers import weights as weight_files
from helpers.devices import autocast_factory, grading_mode, network_autocast
from helpers.errors import CorruptWeightsError, WeightsUnavailableError
from helpers.normalize import ImageModel, Normalize, check_image_batch, explain_small_input

ALLOW_RANDOM_ENV = "KIT_ALLOW_RANDOM_WEIGHTS"
REQUIRE_WEIGHTS_ENV = "KIT_REQUIRE_WEIGHTS"

# Constructor arguments that make each architecture match its published state dict.
_BUILD_KWARGS = {
    "alexnet": {},
    "vgg16": {},
    "vgg19": {},
    "googlenet": {"aux_logits": True, "transform_input": True, "init_weights": True},
    "squeezenet1_1": {},
}
ARCHITECTURES = tuple(_BUILD_KWARGS)


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's weight metadata (no download)."""
    return list(tvm.AlexNet_Weights.IMAGENET1K_V1.meta["categories"])


def class_index(name: str, categories: Sequence[str] | None = None) -> int:
    """Index of a class by name (case-insensitive; a unique substring is enough)."""
    cats = list(categories) if categories is not None else imagenet_categories()
    lowered = [c.lower() for c in cats]
    key = name.strip().lower()
    if key in lowered:
        return lowered.index(key)
    hits = [i for i, c in enumerate(lowered) if key in c]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ValueError(f"no class named {name!r}; try a shorter part of the name")
    raise ValueError(f"{name!r} matches several classes: {', '.join(cats[i] for i in hits[:10])}")


def _check_architecture(name: str) -> str:
    key = str(name).strip().lower()
    if key not in _BUILD_KWARGS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(ARCHITECTURES)}")
    return key


def _build(arch: str) -> nn.Module:
    return getattr(tvm, arch)(weights=None, **_BUILD_KWARGS[arch])


def _finish(arch: str, net: nn.Module) -> nn.Module:
    if arch == "googlenet":  # auxiliary classifiers only matter for training
        net.aux_logits, net.aux1, net.aux2 = False, None, None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _default_meta(arch: str) -> WeightsEnum:
    return weight_files.resolve(arch, "imagenet")


def _mean_std(weights: WeightsEnum) -> tuple[list[float], list[float]]:
    t = weights.transforms()
    return list(t.mean), list(t.std)


def _is_path(spec) -> bool:
    return isinstance(spec, Path) or (isinstance(spec, str) and (
        os.sep in spec or spec.endswith((".pth", ".pt", ".bin"))))


def _random_reason(exc: Exception | None) -> str:
    if grading_mode():
        return "grading mode uses random weights (no network, same marks everywhere)"
    return f"pretrained weights unavailable, using random weights instead ({exc})"


def load_model(name: str, weights: str | Path | WeightsEnum = "imagenet", *, seed: int = 0,
               device: str | torch.device | None = None, download: bool = True) -> ImageModel:
    """A frozen, eval-mode classifier taking ``[B,3,H,W]`` images in [0,1], returning logits ``[B,1000]``.

    See the module docstring for ``weights``. ``device`` defaults to the CPU; pass
    ``helpers.devices.pick_device()`` for the best one.
    """
    arch = _check_architecture(name)
    net, mean, std, label, is_random, cats = _load_net(arch, weights, seed, download)
    model = ImageModel(net, mean, std, name=arch, weights_label=label,
                       random_weights=is_random, categories=cats)
    return model.to(device) if device is not None else model


def _load_net(arch: str, weights, seed: int, download: bool):
    """(net, mean, std, label, is_random, categories) for one weight spec."""
    spec = weights
    if isinstance(spec, str) and spec.strip().lower() == "random":
        return _random_net(arch, seed, note="")
    if _is_path(spec):
        return _net_from_file(arch, Path(spec))
    enum = weight_files.resolve(arch, spec)
    if grading_mode():
        return _random_net(arch, seed, note=_random_reason(None))
    try:
        path = weight_files.ensure_cached(enum, download=download)
        state = weight_files.load_state_dict(path)
    except (WeightsUnavailableError, CorruptWeightsError) as exc:
        if os.environ.get(ALLOW_RANDOM_ENV) == "1" and os.environ.get(REQUIRE_WEIGHTS_ENV) != "1":
            return _random_net(arch, seed, note=_random_reason(exc))
        raise
    net = _build(arch)
    _load_into(net, state, str(path))
    mean, std = _mean_std(enum)
    cats = enum.meta.get("categories") or None
    provenance.record(arch, str(enum), random=False)
    return _finish(arch, net), mean, std, str(enum), False, cats


def _random_net(arch: str, seed: int, note: str):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _build(arch)
    label = f"random (seed {seed})"
    provenance.record(arch, label, random=True, note=note)
    mean, std = _mean_std(_default_meta(arch))
    return _finish(arch, net), mean, std, label, True, imagenet_categories()


def _net_from_file(arch: str, path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"weight file {path} does not exist (model {arch}); give a path to a saved state dict")
    weight_files.verify_file(path)  # checks the hash prefix when the name has one
    net = _build(arch)
    _load_into(net, weight_files.load_state_dict(path), str(path))
    meta = _default_meta(arch)
    mean, std = _mean_std(meta)
    provenance.record(arch, str(path), random=False)
    return _finish(arch, net), mean, std, str(path), False, meta.meta.get("categories")


def _load_into(net: nn.Module, state: dict, source: str) -> None:
    """``load_state_dict`` with a message that names the file and the mismatching keys."""
    own = net.state_dict()
    wrong_shape = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
                   if k in own and hasattr(v, "shape") and v.shape != own[k].shape]
    if wrong_shape:
        raise CorruptWeightsError(
            f"{source} does not fit {type(net).__name__}: tensor shapes differ "
            f"(file vs model): {', '.join(wrong_shape[:3])}. Is it a state dict for this architecture?")
    missing, unexpected = net.load_state_dict(state, strict=False)
    # GoogLeNet files may lack the auxiliary heads; nothing else may be missing.
    missing = [k for k in missing if not k.startswith(("aux1.", "aux2."))]
    if missing or unexpected:
        raise CorruptWeightsError(
            f"{source} does not fit {type(net).__name__}: missing keys {missing[:5]}"
            f"{'…' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
            f"{'…' if len(unexpected) > 5 else ''}. Is it a state dict for this architecture?"
        )


# --------------------------------------------------------------------------- features

def _replace_pools_with_avg(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.MaxPool2d):
            setattr(module, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                               ceil_mode=child.ceil_mode))
        else:
            _replace_pools_with_avg(child)


def _disable_inplace(module: nn.Module) -> None:
    # An in-place ReLU after a returned conv output would overwrite it (conv4_2 would
    # lose its negative values), so every ReLU computes out of place.
    for m in module.modules():
        if hasattr(m, "inplace"):
            m.inplace = False


def _normalize_filters(body: nn.Module, model: ImageModel, resolved, pooling: str,
                       size: int) -> filter_norm.FilterMeans:
    """Rescale ``body``'s convolutions in place to mean activation 1 (see :mod:`helpers.filter_norm`)."""
    deeper = [layer.name for layer in resolved if layer.kind == "fc" or not layer.node.startswith("features.")]
    if deeper:
        raise ValueError(f"normalize_filters rescales the convolutional part only; {', '.join(deeper)} "
                         "would see rescaled inputs. Ask for conv/relu/pool layers, or drop normalize_filters.")
    rare = filter_norm.OFFLINE_RARE_FRACTION if model.random_weights else filter_norm.RARE_FRACTION
    if model.random_weights:
        filter_norm.log.warning("random weights: filters whose calibration mean is below %g of their layer's "
                                "median are left unscaled (offline setting, see helpers.filter_norm)", rare)
    means = filter_norm.filter_means(model.net.features, model.name, model.normalize, pooling=pooling, size=size,
                                     rare_fraction=rare)
    filter_norm.rescale_(body, [f"features.{i}" for i in means.conv_indices], means.scales)
    dead = sum(means.dead)
    if dead:
        filter_norm.log.warning("%s (%s): %d of %d filters never or almost never fire on the calibration "
                                "set; left unscaled", model.name, model.weights_label, dead,
                                sum(m.numel() for m in means.means))
    return means


class FeatureExtractor(nn.Module):
    """Activations of named layers for images ``[B,3,H,W]`` in [0,1].

    Args:
        name: architecture (``vgg19``, ``vgg16``, ``alexnet``, ``googlenet``, ``squeezenet1_1``)
            or an already loaded :class:`ImageModel` (e.g. the offline toy network).
        layers: paper layer names, e.g. ``["relu1_1", "relu2_1", "conv4_2"]``.
        weights: as for :func:`load_model`.
        pooling: ``"max"`` (as trained) or ``"avg"`` (Gatys et al. 2015/2016 replace max
            pooling by average pooling for synthesis).
        normalize_filters: use Gatys et al.'s normalised network: every convolution filter
            rescaled so that its mean activation over a calibration set of images and
            positions is 1 (:mod:`helpers.filter_norm`; VGG and AlexNet, conv/relu/pool
            layers only). Each layer's features are then the original ones divided per
            channel by a positive constant; texture and style losses mean the same for
            any weights. The means are computed once and cached beside the weights.
        calibration_size: side in pixels of the calibration images (``normalize_filters``).
        autocast: run the network in lower precision: a ``devices.Profile`` (its
            ``precision``), a factory of a context manager (e.g.
            ``lambda: torch.autocast("cpu", dtype=torch.bfloat16)``) or ``None`` (float32).
            The features are returned in float32 either way, so Gram matrices and losses
            computed from them stay float32. Without one, the extractor follows the
            innermost :func:`helpers.devices.network_precision` block (float32 outside any).

    ``forward(images)`` returns ``{layer: tensor}`` in the order of ``layers``. Only the
    modules up to the deepest requested layer exist in the extractor. The network is
    frozen and in eval mode; gradients flow to the input image.
    """

    def __init__(self, name: str | ImageModel, layers: Iterable[str], weights="imagenet", *,
                 pooling: str = "max", seed: int = 0, device: str | torch.device | None = None,
                 autocast=None, normalize_filters: bool = False,
                 calibration_size: int = filter_norm.CALIBRATION_SIZE):
        super().__init__()
        from torchvision.models.feature_extraction import create_feature_extractor

        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        given = isinstance(name, ImageModel)
        model = name if given else load_model(name, weights, seed=seed)
        arch = model.name
        requested = list(layers) if not isinstance(layers, str) else [layers]
        resolved = layer_tables.resolve_layers(arch, requested)
        if any(layer.kind == "fc" or layer.node.startswith("classifier") for layer in resolved) \
                and "IMAGENET1K_FEATURES" in model.weights_label:
            raise ValueError(
                f"{model.weights_label} has no trained classifier (it is a features-only port), "
                f"so fc layers are not available; ask for conv/relu/pool layers or use weights='imagenet'."
            )
        self.architecture = arch
        self.layer_names = [layer.name for layer in resolved]
        self.weights_label = model.weights_label
        self.random_weights = model.random_weights
        self.normalize = Normalize(model.normalize.mean.flatten().tolist(), model.normalize.std.flatten().tolist())
        body = create_feature_extractor(
            model.net, return_nodes={layer.node: layer.name for layer in resolved})
        # The truncated graph shares its modules with the model; a model passed in keeps
        # its own, so only the modules up to the deepest layer are copied.
        self.body = copy.deepcopy(body) if given else body
        _disable_inplace(self.body)
        if pooling == "avg":
            _replace_pools_with_avg(self.body)
        self.filter_means = None
        if normalize_filters:
            self.filter_means = _normalize_filters(self.body, model, resolved, pooling, calibration_size)
        self.body.eval()
        self._autocast = autocast_factory(autocast)
        for p in self.body.parameters():
            p.requires_grad_(False)
        if device is not None:
            self.to(device)

    @property
    def normalized(self) -> bool:
        """True when the filters are rescaled to mean activation 1 (``normalize_filters=True``)."""
        return self.filter_means is not None

    def train(self, mode: bool = True) -> "FeatureExtractor":
        # Always eval: dropout and batch-norm statistics must not change the features.
        return super().train(False)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image_batch(images, f"FeatureExtractor({self.architecture})")
        amp = self._autocast or network_autocast()
        with explain_small_input(images, self.architecture):
            if amp is None:
                out = self.body(self.normalize(images))
                return {name: out[name] for name in self.layer_names}
            with amp():
                out = self.body(self.normalize(images))
        return {name: out[name].float() for name in self.layer_names}
