"""A small CNN trained on :mod:`helpers.toydata`: a real classifier that needs no download.

Saliency, class visualisation, adversarial attacks and fc-feature retrieval only
mean something on a network that has learned something. ImageNet weights are not
always available (CI, exam rooms), so this network is trained on the kit's own
procedural textures in seconds on a CPU and cached.

Architecture (torchvision style, every ReLU a module with ``inplace=False``)::

    paper-style name   module path      output for a 32×32 input
    conv1              features.0       [B, 16, 32, 32]   3×3 conv, padding 1
    bn1                features.1                         batch norm (eval mode: fixed affine)
    relu1              features.2
    pool1              features.3       [B, 16, 16, 16]   2×2 max-pool
    conv2              features.4       [B, 32, 16, 16]
    bn2                features.5
    relu2              features.6
    pool2              features.7       [B, 32, 8, 8]
    conv3              features.8       [B, 32, 8, 8]
    bn3                features.9
    relu3              features.10
    pool3              features.11      [B, 32, 4, 4]
    globalpool         globalpool       [B, 32, 1, 1]     global max: any input size works
    fc1                classifier.0     [B, 64]           the "fc" feature for retrieval
    relu_fc1           classifier.1     [B, 64]           (like AlexNet's fc7 before / after ReLU)
    fc2                classifier.2     [B, len(CLASSES)] logits

Inputs are ``[B, 3, H, W]`` images in [0, 1]; :func:`load_toynet` wraps the network in
an :class:`~helpers.normalize.ImageModel` that subtracts :data:`TOYNET_MEAN` and divides
by :data:`TOYNET_STD` (pixel units). Trained on 32×32 images; it classifies 32–64 px
images (texture scales in :mod:`helpers.toydata` are in pixels, not fractions).

Cache: ``$KIT_CACHE_DIR/toynet/`` or ``~/.cache/cnn-kit/toynet/``; the file name
carries a hash of the training configuration and of this module's and
:mod:`helpers.toydata`'s source, so changing either retrains.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import sys
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from helpers import provenance, toydata
from helpers.layers import register_table
from helpers.normalize import ImageModel
from helpers.toydata import CLASSES

__all__ = [
    "CLASSES", "FEATURE_LAYER", "TOYNET_LAYERS", "TOYNET_MEAN", "TOYNET_STD", "TrainConfig", "ToyNet",
    "train_toynet", "load_toynet", "random_toynet", "accuracy", "default_cache_dir",
    "cache_path",
]

#: Per-channel mean / std of :func:`helpers.toydata.make_dataset` images (pixel units).
TOYNET_MEAN = (0.5, 0.5, 0.5)
TOYNET_STD = (0.285, 0.285, 0.285)

TOYNET_LAYERS: dict[str, str] = {
    "conv1": "features.0", "bn1": "features.1", "relu1": "features.2", "pool1": "features.3",
    "conv2": "features.4", "bn2": "features.5", "relu2": "features.6", "pool2": "features.7",
    "conv3": "features.8", "bn3": "features.9", "relu3": "features.10", "pool3": "features.11",
    "globalpool": "globalpool",
    "fc1": "classifier.0", "relu_fc1": "classifier.1", "fc2": "classifier.2",
}
#: The 64-d hidden layer: the toy network's counterpart of AlexNet's fc7, for retrieval.
FEATURE_LAYER = "relu_fc1"

_KINDS = {"conv": "conv", "bn": "block", "relu": "relu", "pool": "pool", "globalpool": "pool", "fc": "fc"}
register_table("toynet", [(name, path, next(k for p, k in _KINDS.items() if name.startswith(p)))
                          for name, path in TOYNET_LAYERS.items()])

from helpers.cache import CACHE_ENV  # noqa: E402


class ToyNet(nn.Module):
    """Three conv–batch-norm–ReLU–max-pool stages, global max pooling, two linear layers.

    ``forward`` takes normalised ``[B, 3, H, W]`` input (H, W ≥ 8) and returns
    logits ``[B, num_classes]``. Global *max* pooling suits texture detection (a
    pattern anywhere in the image counts) and sends the gradient only to where the
    pattern detectors fire, i.e. into the pattern rather than onto the background.
    """

    def __init__(self, num_classes: int = len(CLASSES), widths: tuple[int, int, int] = (16, 32, 32),
                 hidden: int = 64):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for out_ch in widths:
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch),
                       nn.ReLU(inplace=False), nn.MaxPool2d(2)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.globalpool = nn.AdaptiveMaxPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(in_ch, hidden), nn.ReLU(inplace=False), nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.globalpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (and so the cache file name).

    Each epoch draws ``n_train`` fresh images from :func:`helpers.toydata.make_dataset`
    and flips / rotates them by multiples of 90°.
    """

    seed: int = 0
    epochs: int = 10
    n_train: int = 4000
    batch_size: int = 64
    lr: float = 1e-2
    weight_decay: float = 1e-4
    size: int = 32

    def key(self) -> str:
        """Short hash of this config and of the network / data source code."""
        blob = json.dumps(asdict(self), sort_keys=True) + _source_fingerprint()
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _source_fingerprint() -> str:
    parts = []
    for module in (toydata, sys.modules[__name__]):
        try:
            parts.append(inspect.getsource(module))
        except (OSError, TypeError):  # source not shipped: fall back to the module name
            parts.append(module.__name__)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and rotation by a multiple of 90°, per image ``[B, 3, H, W]``."""
    flip = torch.rand(x.shape[0], generator=g) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    turns = torch.randint(0, 4, (x.shape[0],), generator=g)
    out = x.clone()
    for k in range(1, 4):
        sel = turns == k
        if sel.any():
            out[sel] = torch.rot90(x[sel], k, dims=(-2, -1))
    return out


@contextlib.contextmanager
def _deterministic_cpu(threads: int | None):
    """Deterministic kernels and a fixed thread count for the duration; restores both."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def train_toynet(seed: int | None = None, epochs: int | None = None, *, config: TrainConfig | None = None,
                 threads: int | None = 1, **overrides) -> dict[str, torch.Tensor]:
    """Train a :class:`ToyNet` on CPU from scratch and return its state dict.

    Args:
        seed: seeds the initial weights, the data and the augmentation (default 0).
        epochs: passes over ``n_train`` fresh images (default from :class:`TrainConfig`).
        config: a full :class:`TrainConfig`; ``seed``/``epochs``/``overrides`` replace its fields.
        threads: CPU threads while training; ``None`` leaves torch's setting. One thread
            is as fast as two for a network this small, and a fixed count makes the
            weights independent of the machine's core count (float sums depend on it).
        **overrides: any other :class:`TrainConfig` field, e.g. ``n_train=1000``.

    Bit-identical results for the same config, torch build and thread count; the
    global RNG state and torch's thread / determinism settings are left as found.
    """
    cfg = _resolve_config(config, seed=seed, epochs=epochs, **overrides)
    g = torch.Generator().manual_seed(cfg.seed)
    with _deterministic_cpu(threads):
        # channels-last makes this small net's max-pool / batch-norm kernels ~1.5x faster on CPU
        net = _init_net(g).to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = -(-cfg.n_train // cfg.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.25)
        norm_mean = torch.tensor(TOYNET_MEAN).view(1, 3, 1, 1)
        norm_std = torch.tensor(TOYNET_STD).view(1, 3, 1, 1)
        net.train()
        for _ in range(cfg.epochs):
            data_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
            images, labels = toydata.make_dataset(cfg.n_train, cfg.size, seed=data_seed)
            images = ((_augment(images, g) - norm_mean) / norm_std).contiguous(
                memory_format=torch.channels_last)
            order = torch.randperm(cfg.n_train, generator=g)
            for start in range(0, cfg.n_train, cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                loss = F.cross_entropy(net(images[idx]), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        net.eval()
    return {k: v.detach().contiguous() for k, v in net.state_dict().items()}


def _resolve_config(config: TrainConfig | None, **fields) -> TrainConfig:
    base = asdict(config) if config is not None else asdict(TrainConfig())
    unknown = set(fields) - set(base)
    if unknown:
        raise TypeError(f"unknown training option(s) {sorted(unknown)}; valid: {sorted(base)}")
    base.update({k: v for k, v in fields.items() if v is not None})
    return TrainConfig(**base)


def _init_net(g: torch.Generator) -> ToyNet:
    """A :class:`ToyNet` initialised like torch's default, U(±1/sqrt(fan_in)), but drawn from ``g``.

    He initialisation trains 1–2 points worse with this schedule.
    """
    net = _blank_net()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                bound = fan_in ** -0.5
                m.weight.uniform_(-bound, bound, generator=g)
                m.bias.uniform_(-bound, bound, generator=g)
    return net


def _blank_net() -> ToyNet:
    """A :class:`ToyNet` whose weights will be overwritten; the global RNG state is preserved."""
    with torch.random.fork_rng(devices=[]):
        return ToyNet()


def _wrap(net: ToyNet, weights_label: str, random_weights: bool) -> ImageModel:
    model = ImageModel(net, TOYNET_MEAN, TOYNET_STD, name="toynet", weights_label=weights_label,
                       random_weights=random_weights, categories=CLASSES)
    return model.eval()


def default_cache_dir() -> Path:
    """``$KIT_CACHE_DIR/toynet``, else ``$XDG_CACHE_HOME/cnn-kit/toynet`` or ``~/.cache/cnn-kit/toynet``."""
    from helpers.cache import kit_cache_dir

    return kit_cache_dir("toynet")


def cache_path(config: TrainConfig | None = None, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the state dict for ``config`` is (or would be) cached."""
    cfg = config or TrainConfig()
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return directory / f"toynet-seed{cfg.seed}-{cfg.key()}.pt"


def load_toynet(cache_dir: str | os.PathLike | None = None, retrain: bool = False, *,
                seed: int = 0, config: TrainConfig | None = None) -> ImageModel:
    """The trained toy classifier, from the cache or trained now (seconds) and cached.

    Args:
        cache_dir: directory for the state dict; default :func:`default_cache_dir`.
        retrain: train even when a cached file exists, and overwrite it.
        seed: training seed (ignored when ``config`` is given).
        config: full training configuration; default ``TrainConfig(seed=seed)``.

    Returns:
        an :class:`ImageModel` in eval mode taking ``[B, 3, H, W]`` images in [0, 1]
        and returning logits over :data:`CLASSES`.

    A cached file that cannot be read is replaced by a fresh training, with a warning.
    """
    cfg = config or TrainConfig(seed=seed)
    path = cache_path(cfg, cache_dir)
    net = _blank_net()
    loaded = False
    if not retrain and path.exists():
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            loaded = True
        except Exception as exc:  # any unreadable / mismatched file: retrain rather than fail
            warnings.warn(f"cached toynet weights {path} are unreadable ({type(exc).__name__}: {exc}); "
                          "retraining and overwriting them", RuntimeWarning, stacklevel=2)
    if not loaded:
        state = train_toynet(config=cfg)
        _save_atomic(state, path)
        net.load_state_dict(state)
    label = f"toynet trained (seed {cfg.seed}, cached)"
    provenance.record("toynet", label, random=False, note=str(path))
    return _wrap(net, label, random_weights=False)


def _save_atomic(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write to a temporary file in the same directory, then rename over ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(state, fh)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        warnings.warn(f"could not cache toynet weights at {path} ({exc}); they will be retrained "
                      f"next time. Set ${CACHE_ENV} to a writable directory to keep them.",
                      RuntimeWarning, stacklevel=3)


def random_toynet(seed: int = 0) -> ImageModel:
    """An untrained :class:`ToyNet` (the seeded initial weights training starts from), for comparisons."""
    net = _init_net(torch.Generator().manual_seed(seed))
    label = f"random (seed {seed})"
    provenance.record("toynet", label, random=True)
    return _wrap(net, label, random_weights=True)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Fraction of ``images`` ``[N, 3, H, W]`` (in [0, 1]) whose argmax logit equals ``labels`` ``[N]``."""
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(images[start:start + batch_size])
        correct += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    return correct / max(1, len(images))
