"""Training and using feed-forward style-transfer networks (Johnson et al. 2016).

* :class:`PhotoStream` — batches of random square crops (with random horizontal flips)
  from any folder of photos, or the kit's bundled photos;
* :class:`PerceptualLoss` — the loss network of Johnson et al.: VGG-16 features, content
  at ``relu2_2``, style at ``relu1_2, relu2_2, relu3_3, relu4_3``; the formulas are passed
  in (the notebook's ``normalized_gram``, ``feature_reconstruction_loss`` and
  ``style_reconstruction_loss``), so this module holds no exercise answers;
* :func:`training_key` — a short hash of everything that changes training (loss weights,
  style image, the source of the loss functions, photos, sizes, steps, …), so that a cached
  checkpoint is reused only for the same training;
* :func:`train_transformer` — Adam on the transformation network with a progress bar,
  a live preview, a checkpoint every N steps, resume after an interruption (continuing
  exactly where it stopped: weights, optimiser moments, step and the random crops) and
  DistributedDataParallel when the network passed in is wrapped in it;
* the checkpoints published with PyTorch's official ``fast_neural_style`` example
  (``python -m helpers styles prefetch``), loaded by :func:`load_official_style`.

Images are ``[B, 3, H, W]`` in [0, 1]; losses are 0-d float32 tensors.

Units of training. PyTorch's example (``fast_neural_style/neural_style/neural_style.py``)
feeds its network 0–255 pixels and gives VGG ``(y/255 − mean)/std`` of the 0–255 output.
The loss is therefore the same function of the *image* in either unit, but not of the
network's *weights*: a network whose raw output is in [0, 1] must be 255× smaller in its
last layer, and Adam's steps (about ``lr`` per weight whatever the gradient's scale) are
then 255× larger relative to what they change. Training with :data:`TRAINING_VALUE_RANGE`
(the kit's ``TransformerNet(value_range=255)``: ×255 before the first layer, ÷255 after the
last) is the example's network, weights, gradients and Adam steps exactly, so its
``λ_c = 1e5``, ``λ_s = 1e10`` and ``lr = 1e-3`` apply unchanged
(``tests/notebooks/test_reference_units.py``, section 08).
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import os
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from helpers import references as _references
from helpers.cache import copy_limited, kit_cache_dir
from helpers.errors import DownloadError, ImageLoadError, KitError
from helpers.optim import LoopTracker, StepState, TrainingResult, loss_values
from helpers.transformer_net import TransformerNet, load_transformer

Tensor = torch.Tensor

# Johnson et al. 2016, Sec. 4.1, and PyTorch's example (helpers.references, topic 08).
CONTENT_LAYER = _references.value("08", "content layer")
STYLE_LAYERS = tuple(_references.value("08", "style layers"))

#: Pixel range the transformation network is trained in: PyTorch's example's 0–255 (see above).
TRAINING_VALUE_RANGE = float(_references.value("08", "transformer pixel range"))

CHECKPOINT_FORMAT = "kit-transformer-checkpoint/1"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


# --------------------------------------------------------------------------- photos

class PhotoStream:
    """Random ``size × size`` crops of photos, as ``[B, 3, size, size]`` batches in [0, 1].

    Each photo is resized so that its shortest side is ``size`` × a random factor in
    ``[1, max_zoom]``, cropped at a random place and flipped left–right with probability ½.
    All randomness comes from the ``generator`` passed to :meth:`batch`, so a run is
    reproducible and resumable. Up to ``cache_limit`` decoded photos are kept in memory
    (the bundled set fits); larger folders are read from disk as needed. A photo that
    cannot be read is reported once and skipped.

    Args:
        source: a folder (searched recursively for .jpg/.png/…), a list of paths or bundled
            sample names, or ``None`` for the kit's bundled photos.
    """

    def __init__(self, source=None, size: int = 256, *, max_zoom: float = 1.25, cache_limit: int = 64):
        if size < 16:
            raise ValueError(f"crop size must be at least 16 pixels, got {size}")
        if max_zoom < 1:
            raise ValueError(f"max_zoom must be ≥ 1, got {max_zoom}")
        self.size, self.max_zoom, self.cache_limit = int(size), float(max_zoom), int(cache_limit)
        self.sources = _photo_list(source)
        self._cache: dict[int, Tensor] = {}
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.sources)

    def _load(self, index: int) -> Tensor | None:
        from helpers import images

        if index in self._cache:
            return self._cache[index]
        try:
            # Decoded a little larger than needed so zoomed crops stay sharp.
            photo = images.load_image(self.sources[index], size=math.ceil(self.size * self.max_zoom),
                                      resize="shortest")[0]
        except (ImageLoadError, OSError) as exc:
            self._bad.add(index)
            warnings.warn(f"skipping photo {self.sources[index]}: {exc}", stacklevel=3)
            return None
        if len(self._cache) < self.cache_limit:
            self._cache[index] = photo
        return photo

    def sample(self, generator: torch.Generator) -> Tensor:
        """One random crop ``[3, size, size]``."""
        from helpers import images

        for _ in range(10 * len(self.sources) + 10):
            index = int(torch.randint(len(self.sources), (1,), generator=generator))
            zoom = 1 + (self.max_zoom - 1) * float(torch.rand((), generator=generator))
            flip = bool(torch.rand((), generator=generator) < 0.5)
            if index in self._bad:
                continue
            photo = self._load(index)
            if photo is None:
                continue
            short = math.ceil(self.size * zoom)
            photo = images.resize(photo, short, by="shortest") if min(photo.shape[-2:]) != short else photo
            crop = images.random_crop(photo, self.size, generator=generator)
            return crop.flip(-1) if flip else crop
        raise ImageLoadError(f"none of the {len(self.sources)} photos could be read (first: {self.sources[0]}); "
                             "check the folder")

    def batch(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """``[batch_size, 3, size, size]`` random crops."""
        return torch.stack([self.sample(generator) for _ in range(batch_size)])


def _photo_list(source) -> list:
    from helpers.samples import samples

    if source is None:
        return list(samples("content"))
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        folder = Path(source)
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        if not found:
            raise ImageLoadError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) under {folder}; "
                                 "point the training at a folder of photographs")
        return found
    if isinstance(source, (str, os.PathLike)):
        raise ImageLoadError(f"photo folder {source} does not exist; pass a folder of photographs, "
                             "a list of image paths, or None for the bundled photos")
    items = list(source)
    if not items:
        raise ImageLoadError("the list of photos is empty")
    return items


# --------------------------------------------------------------------------- loss network

class PerceptualLoss(nn.Module):
    """``{content, style[, tv]}`` for a batch of stylised images and the photos they came from.

    content = ``content_weight · content_fn(φ_c(ŷ), φ_c(y))`` at :data:`CONTENT_LAYER`;
    style = ``style_weight · Σ_j w_j · style_fn([φ_j(ŷ)], [G_j(s)])`` over :data:`STYLE_LAYERS`,
    where ``G_j(s) = gram_fn(φ_j(style image))`` is computed once. ``layer_weights="mse"``
    sets ``w_j = 1 / C_j²``, which turns the Frobenius norm of Johnson et al. (eq. 4) into the
    mean squared error over Gram entries that PyTorch's official example uses; the content
    term's ``/(C·H·W)`` is already its mean squared error over features. With both, and the
    network trained in :data:`TRAINING_VALUE_RANGE`, the example's
    ``content_weight=1e5, style_weight=1e10`` apply unchanged (``helpers.references``, 08).
    ``None`` gives every layer weight 1 and calls ``style_fn`` once with all layers, as in
    the paper.

    Args:
        extractor: a :class:`helpers.models.FeatureExtractor` with at least the layers above.
        style_image: ``[1, 3, H, W]`` in [0, 1].
        gram_fn, content_fn, style_fn: the three formulas (see the notebook).
        tv_fn: optional total-variation term, weighted by ``tv_weight``.
    """

    def __init__(self, extractor: nn.Module, style_image: Tensor, *, gram_fn: Callable, content_fn: Callable,
                 style_fn: Callable, content_weight: float, style_weight: float, layer_weights="mse",
                 tv_fn: Callable | None = None, tv_weight: float = 0.0,
                 content_layer: str = CONTENT_LAYER, style_layers: Sequence[str] = STYLE_LAYERS):
        super().__init__()
        self.extractor = extractor
        self.content_fn, self.style_fn, self.tv_fn = content_fn, style_fn, tv_fn
        self.content_weight, self.style_weight, self.tv_weight = (float(content_weight), float(style_weight),
                                                                  float(tv_weight))
        self.content_layer, self.style_layers = content_layer, tuple(style_layers)
        self.style_digest = tensor_digest(style_image)
        self.functions = {"gram_fn": gram_fn, "content_fn": content_fn, "style_fn": style_fn, "tv_fn": tv_fn}
        device = next((b.device for b in extractor.buffers()), style_image.device)
        with torch.no_grad():
            feats = extractor(style_image.to(device))
            grams = [gram_fn(feats[layer]).float() for layer in self.style_layers]
        for i, g in enumerate(grams):
            self.register_buffer(f"target_gram_{i}", g)
        if layer_weights == "mse":
            self.layer_weights = [1.0 / g.shape[-1] ** 2 for g in grams]
        elif layer_weights is None:
            self.layer_weights = None
        else:
            self.layer_weights = [float(w) for w in layer_weights]
            if len(self.layer_weights) != len(grams):
                raise ValueError(f"{len(self.layer_weights)} layer weights for {len(grams)} style layers")

    def fingerprint(self) -> dict:
        """Everything that decides this loss, as JSON-able values: weights, layers, the loss
        network, a hash of the style image's pixels and of the source of each function."""
        return {"content_weight": self.content_weight, "style_weight": self.style_weight,
                "tv_weight": self.tv_weight, "layer_weights": self.layer_weights,
                "content_layer": self.content_layer, "style_layers": list(self.style_layers),
                "loss_network": [getattr(self.extractor, a, None)
                                 for a in ("architecture", "weights_label", "normalized")],
                "style_image": self.style_digest,
                "functions": {k: source_digest(f) for k, f in self.functions.items() if f is not None}}

    @property
    def target_grams(self) -> list[Tensor]:
        return [getattr(self, f"target_gram_{i}") for i in range(len(self.style_layers))]

    def forward(self, stylised: Tensor, photos: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            target = self.extractor(photos)[self.content_layer]
        return self._terms(stylised, target)

    def for_image(self, photo: Tensor) -> Callable[[Tensor], dict[str, Tensor]]:
        """``objective(x)`` with the content target of ``photo`` computed once: the same loss,
        optimised over the pixels of one image (Gatys et al.'s method) instead of a network's weights."""
        with torch.no_grad():
            target = self.extractor(photo)[self.content_layer]
        return lambda x: self._terms(x, target)

    def _terms(self, stylised: Tensor, target: Tensor) -> dict[str, Tensor]:
        feats = self.extractor(stylised)
        content = self.content_fn(feats[self.content_layer].float(), target.float())
        style_feats = [feats[layer].float() for layer in self.style_layers]
        if self.layer_weights is None:
            style = self.style_fn(style_feats, self.target_grams)
        else:
            style = sum(w * self.style_fn([f], [g])
                        for w, f, g in zip(self.layer_weights, style_feats, self.target_grams))
        out = {"content": self.content_weight * content, "style": self.style_weight * style}
        if self.tv_fn is not None and self.tv_weight:
            out["tv"] = self.tv_weight * self.tv_fn(stylised)
        return out


# --------------------------------------------------------------------------- training

def unwrap(net: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / DataParallel wrapper (or ``net`` itself)."""
    return getattr(net, "module", net)


def save_checkpoint(path, net: nn.Module, optimizer: torch.optim.Optimizer, step: int,
                    generator_states: Sequence[Tensor], history: Mapping[str, list], config: Mapping) -> Path:
    """Write a resumable checkpoint atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = unwrap(net)
    state = {"format": CHECKPOINT_FORMAT, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "value_range": model.value_range, "optimizer": optimizer.state_dict(), "step": int(step),
             "generator_states": [s.clone() for s in generator_states],
             "history": {k: list(v) for k, v in history.items()}, "config": dict(config)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def read_checkpoint(path) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`; a wrong file raises with its name."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file's name
        raise KitError(f"{path} is not a readable training checkpoint ({type(exc).__name__}: {exc}); "
                       "delete it to start afresh") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise KitError(f"{path} is not a training checkpoint of this kit (format "
                       f"{state.get('format') if isinstance(state, dict) else type(state).__name__!r}); "
                       "load pretrained networks with load_official_style or load_transformer, "
                       "or delete the file to start afresh")
    return state


class _TrainingJob:
    """The parts of one :func:`train_transformer` call: network and Adam, crops, checkpoint, ranks."""

    def __init__(self, net: nn.Module, loss_fn: Callable, photos: PhotoStream, *, batch_size: int, lr: float,
                 seed: int, checkpoint):
        import torch.distributed as dist

        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.main = self.rank == 0
        self.net, self.model, self.loss_fn, self.photos = net, unwrap(net), loss_fn, photos
        self.batch_size, self.seed = batch_size, seed
        self.device = next(self.model.parameters()).device
        self.optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        self.generator = torch.Generator().manual_seed(seed + self.rank)
        self.history: dict[str, list[float]] = {}
        self.ckpt = Path(checkpoint) if checkpoint is not None else None
        self.config = {"batch_size": batch_size, "lr": lr, "seed": seed, "crop": photos.size,
                       "world_size": self.world, "value_range": float(getattr(self.model, "value_range", 1.0)),
                       "loss": loss_digest(loss_fn)}

    def resume(self) -> int:
        """Continue the checkpoint when there is one: weights, Adam, history, crops. Returns its step."""
        if self.ckpt is None or not self.ckpt.is_file():
            return 0
        state = read_checkpoint(self.ckpt)
        _check_same_run(self.ckpt, state.get("config", {}), self.config)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        gens = state["generator_states"]
        if len(gens) == self.world:
            self.generator.set_state(gens[self.rank])
        else:
            warnings.warn(f"{self.ckpt} was written by {len(gens)} process(es), now {self.world}: crops are "
                          "reseeded", stacklevel=3)
            self.generator.manual_seed(self.seed + self.rank + 7919 * start)
        return start

    def step(self, step: int, autocast: Callable, step_fn: Callable | None) -> dict[str, float]:
        """Train on one batch of crops; the step's values (averaged over the ranks)."""
        batch = self.photos.batch(self.batch_size, self.generator).to(self.device)
        if step_fn is None:
            terms = _kit_step(self.net, self.loss_fn, batch, self.optimizer, autocast)
        else:
            given = step_fn(_Autocast(self.net, autocast), lambda b, o: self.loss_fn(o.float(), b), batch,
                            self.optimizer)
            terms = {k: torch.as_tensor(float(v)) for k, v in dict(given).items()}
        total = sum(terms.values())
        if not torch.isfinite(total):
            raise FloatingPointError(f"step {step}: the loss is {float(total)} "
                                     f"({', '.join(f'{k}={float(v):.3g}' for k, v in terms.items())}); "
                                     "lower the learning rate or the loss weights")
        return _step_values(terms, total, self.distributed, self.world)

    def write(self, step: int, history: Mapping[str, list]) -> None:
        """Save a checkpoint (rank 0), with every rank's crop state."""
        states = [self.generator.get_state()]
        if self.distributed:
            import torch.distributed as dist

            states = [None] * self.world
            dist.all_gather_object(states, self.generator.get_state())
        if self.main and self.ckpt is not None:
            save_checkpoint(self.ckpt, self.model, self.optimizer, step, states, history, self.config)

    def write_last(self, step: int, history: Mapping[str, list], started: int, stopped: bool) -> None:
        """The checkpoint at the end: after new steps, an early stop, or when there is none yet."""
        if self.ckpt is None or not (stopped or step > started or not self.ckpt.exists()):
            return
        if not (stopped and self.distributed):
            self.write(step, history)
        elif self.main:
            # Other ranks may not be listening any more: only this rank's crop state is known,
            # so a resume reseeds every rank's crops (see the length check in resume).
            save_checkpoint(self.ckpt, self.model, self.optimizer, step, [self.generator.get_state()], history,
                            self.config)


def _takes_step_and_values(callback: Callable) -> bool:
    """True for a callback written as ``callback(step, values)`` (two required positional arguments)."""
    try:
        params = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return len(required) == 2 and not any(p.kind is p.VAR_POSITIONAL for p in params)


def _state_callbacks(callbacks: Iterable[Callable]) -> list[Callable]:
    """The callbacks as ``callback(state)``; ``callback(step, values)`` ones are wrapped (deprecated)."""
    import functools

    out = []
    for cb in callbacks or ():
        if _takes_step_and_values(cb):
            warnings.warn("train_transformer callbacks now receive one StepState and return True to stop; "
                          "callback(step, values) still works but is deprecated", DeprecationWarning, stacklevel=3)

            @functools.wraps(cb)
            def wrapped(state, cb=cb):
                cb(state.step, state.losses)   # returned values are ignored, as they always were
            out.append(wrapped)
        else:
            out.append(cb)
    return out


def train_transformer(net: nn.Module, loss_fn: Callable[[Tensor, Tensor], Mapping[str, Tensor]],
                      photos: PhotoStream, *, steps: int, batch_size: int = 4, lr: float = 1e-3,
                      seed: int = 0, checkpoint=None, checkpoint_every: int = 100, resume: bool = True,
                      progress: bool = True, preview=None, preview_image: Tensor | None = None,
                      preview_every: int = 25, callbacks: Iterable[Callable[[StepState], bool | None]] = (),
                      autocast=None, step_fn: Callable | None = None) -> TrainingResult:
    """Train ``net`` to minimise ``loss_fn(net(photos), photos)`` with Adam (Johnson et al. 2016: lr 1e-3, batch 4).

    Args:
        net: a :class:`TransformerNet`, or one wrapped in ``DistributedDataParallel`` (then
            every process calls this function; each draws its own crops, only rank 0 writes
            checkpoints and shows progress, and the logged losses are averaged over ranks).
            ``TransformerNet(value_range=TRAINING_VALUE_RANGE)`` trains in the reference's units.
        loss_fn: ``(stylised [B,3,S,S], photos [B,3,S,S]) -> {term: 0-d tensor}``, e.g. a
            :class:`PerceptualLoss`; the terms are summed.
        photos: where the training crops come from.
        steps: total optimiser steps (counting steps done before a resume).
        checkpoint: file to write every ``checkpoint_every`` steps, on an early stop and at
            the end; with ``resume=True`` an existing one is continued (refused when it was
            written with another batch size, learning rate, crop, pixel range or loss — see
            :func:`loss_digest`). Name it with :func:`training_key` to get a fresh file for
            every other training.
        callbacks: ``callback(state: StepState)`` after every step (``state.losses`` the
            step's values); returning True stops training after that step, as Ctrl-C does
            (with DDP, every rank must decide alike). ``callback(step, values)`` is still
            accepted (deprecated).
        autocast: a context-manager factory for the forward passes (e.g. a profile's
            ``autocast``); losses are computed in float32 by :class:`PerceptualLoss`.
        step_fn: one training step written elsewhere (notebook 08's ``train_step``):
            ``step_fn(transformer, loss, batch, optimizer) -> {term: float}``, called with the
            network (its forward under ``autocast``), ``loss(batch, output)`` (this
            function's ``loss_fn`` with the contract's argument order), the crops and the Adam
            optimiser. ``None``: the step written here.

    Returns:
        :class:`~helpers.optim.TrainingResult` (``net``, ``history`` over steps 1 … steps_done
        across a resume, ``resumed_from``, ``seconds``, ``checkpoint``, ``interrupted``,
        ``stopped_reason``). After Ctrl-C or a callback's stop the network trained so far is
        returned (and saved).
    """
    t0 = time.perf_counter()
    job = _TrainingJob(net, loss_fn, photos, batch_size=batch_size, lr=lr, seed=seed, checkpoint=checkpoint)
    start = job.resume() if resume else 0
    run = LoopTracker(steps, total_key="total", progress=progress and job.main, desc="training",
                      callbacks=_state_callbacks(callbacks), initial=start)
    run.resume(job.history, start)
    run.begin_stage(None, max(0, steps - start))
    preview_obj = None
    if job.main:
        from helpers.display import resolve_preview
        preview_obj = resolve_preview(preview) if preview_image is not None else None
    autocast = autocast or contextlib.nullcontext
    net.train()
    with run.guarded():
        while run.steps_done < steps:
            began, step = time.perf_counter(), run.steps_done + 1
            values = job.step(step, autocast, step_fn)
            if preview_obj is not None and (step % preview_every == 0 or step == steps):
                preview_obj.update(job.model.stylize(preview_image), step=step, losses=values)
            run.offer_best(values, None)
            run.after_step(values, None, time.perf_counter() - began)
            if checkpoint_every and step % checkpoint_every == 0 and step < steps:
                job.write(step, run.history)
    stopped = run.interrupted or bool(run.stopped_reason)
    if stopped and job.main:
        how = "interrupted" if run.interrupted else "stopped by a callback"
        run.display.bar.write(f"{how} at step {run.steps_done}; returning the network trained so far"
                              + (f" (saved to {job.ckpt})" if job.ckpt is not None else ""))
    run.display.close()
    job.write_last(run.steps_done, run.history, start, stopped)
    job.model.eval()
    return run.finish(TrainingResult, net=job.model, resumed_from=start, seconds=time.perf_counter() - t0,
                      checkpoint=job.ckpt)


def _kit_step(net: nn.Module, loss_fn: Callable, batch: Tensor, optimizer, autocast) -> dict[str, Tensor]:
    """One Adam step on ``batch``; returns the loss terms (before the step). A non-finite loss is not stepped."""
    optimizer.zero_grad(set_to_none=True)
    with autocast():
        out = net(batch)
    terms = dict(loss_fn(out.float(), batch))
    total = sum(terms.values())
    if torch.isfinite(total):
        total.backward()
        optimizer.step()
    return {k: v.detach() for k, v in terms.items()}


class _Autocast(nn.Module):
    """``net`` with its forward run under ``autocast()`` and returned in float32 (parameters shared)."""

    def __init__(self, net: nn.Module, autocast: Callable):
        super().__init__()
        self.net, self._autocast = net, autocast

    def forward(self, x: Tensor) -> Tensor:
        with self._autocast():
            return self.net(x).float()


def loss_digest(loss_fn: Callable) -> str:
    """16 hex digits that change when the loss changes: its fingerprint or its source (see :func:`training_key`)."""
    return _digest(loss_fn.fingerprint()) if hasattr(loss_fn, "fingerprint") else source_digest(loss_fn)


def _check_same_run(path: Path, saved: Mapping, now: Mapping) -> None:
    """Refuse to resume a checkpoint written with other training settings (it would not continue the same run)."""
    keys = ("batch_size", "lr", "crop", "value_range", "loss")
    diff = [f"{k} {saved.get(k)!r} → {now.get(k)!r}" for k in keys if k in saved and saved.get(k) != now.get(k)]
    if diff:
        raise KitError(f"{path} was written with other settings ({'; '.join(diff)}); pass resume=False "
                       "(or another checkpoint file) to start afresh, or restore the settings to continue it")


def tensor_digest(tensor: Tensor) -> str:
    """SHA-256 (16 hex digits) of a tensor's shape and float32 values (moved to the CPU)."""
    data = tensor.detach().to("cpu", torch.float32).contiguous()
    h = hashlib.sha256(str(tuple(data.shape)).encode())
    h.update(data.numpy().tobytes())
    return h.hexdigest()[:16]


def source_digest(fn) -> str:
    """SHA-256 (16 hex digits) of the source code of ``fn``.

    ``inspect.getsource`` where the source can be had (files, notebook cells); otherwise
    (code run with ``exec``, a deleted file) the compiled code: bytecode, constants, names,
    nested functions. ``functools.partial`` adds its bound arguments; a callable object
    its class. Two functions with the same text give the same digest, whatever their name.
    """
    import functools

    if isinstance(fn, functools.partial):
        return _digest(["partial", source_digest(fn.func), repr(fn.args), repr(sorted(fn.keywords.items()))])
    target = inspect.unwrap(fn) if callable(fn) else fn
    if not (inspect.isfunction(target) or inspect.ismethod(target)) and not inspect.isclass(target):
        target = type(target)
    try:
        return _digest(["source", inspect.getsource(target)])
    except (OSError, TypeError):
        code = getattr(getattr(target, "__func__", target), "__code__", None)
        if code is None:
            return _digest(["object", getattr(target, "__module__", ""), getattr(target, "__qualname__", repr(target))])
        return _digest(["code", *_code_parts(code)])


def _code_parts(code) -> list[str]:
    """Bytecode, constants (nested code objects recursively), names and variable names of ``code``."""
    consts = [" ".join(_code_parts(c)) if inspect.iscode(c)
              else repr(sorted(map(repr, c))) if isinstance(c, frozenset) else repr(c)   # set order varies per process
              for c in code.co_consts]
    return [code.co_code.hex(), *consts, *code.co_names, *code.co_varnames]


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def training_key(loss_fn: Callable, photos: PhotoStream, *, steps: int, batch_size: int, lr: float,
                 seed: int, value_range: float, **extra) -> str:
    """A 16-hex-digit key of everything that changes what :func:`train_transformer` produces.

    The loss's :meth:`PerceptualLoss.fingerprint` (weights, layers, loss network, style
    image, the source of the loss functions passed in) or, for any other callable, the
    digest of its source; the photos (list and crop size), steps, batch size, learning
    rate, seed, the network's pixel range, and any ``extra`` settings (e.g. the profile).
    Name checkpoints with it (:func:`default_checkpoint`): a change to any of these —
    a corrected loss function included — trains afresh instead of reusing a stale network.
    """
    loss = loss_fn.fingerprint() if hasattr(loss_fn, "fingerprint") else {"function": source_digest(loss_fn)}
    return _digest({"loss": loss, "photos": [str(p) for p in photos.sources], "crop": photos.size,
                    "max_zoom": photos.max_zoom, "steps": int(steps), "batch_size": int(batch_size),
                    "lr": float(lr), "seed": int(seed), "value_range": float(value_range), "extra": extra})


def checkpoints_dir() -> Path:
    """:func:`helpers.cache.kit_cache_dir` ``("fast_style")`` (created on use)."""
    return kit_cache_dir("fast_style")


def default_checkpoint(*parts) -> Path:
    """A checkpoint path named after ``parts`` (style, profile, weights, seed …) in :func:`checkpoints_dir`.

    Under autograding (``NBGRADER_EXECUTION``) it is a fresh temporary file instead, so a grading
    run never resumes an earlier one.
    """
    from helpers.devices import grading_mode

    name = "-".join(str(p).replace("/", "_").replace(" ", "_") for p in parts if p is not None) or "transformer"
    if grading_mode():
        return Path(tempfile.mkdtemp(prefix="fast-style-")) / f"{name}.pt"
    return checkpoints_dir() / f"{name}.pt"


def _step_values(terms: Mapping[str, Tensor], total: Tensor, distributed: bool, world: int) -> dict[str, float]:
    """The step's terms and total as floats; under DDP averaged over the ranks (one all-reduce)."""
    if not distributed:
        return loss_values(terms, total, "total")
    import torch.distributed as dist

    stacked = torch.stack([t.detach().float().reshape(()) for t in [*terms.values(), total]])
    dist.all_reduce(stacked)
    return dict(zip([*terms, "total"], (stacked / world).cpu().tolist()))


def time_forward(fn: Callable[[], object], repeats: int = 3, warmup: int = 1, device=None) -> float:
    """Median wall time in seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs (CUDA synchronised)."""
    dev = torch.device(device) if device is not None else None

    def sync():
        if dev is not None and dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


# --------------------------------------------------------------------------- official pretrained styles

# The four styles published with PyTorch's examples repository (fast_neural_style/README.md,
# download_saved_models.py): one zip holding saved_models/<style>.pth, trained on COCO 2014
# at 256 px with the example's defaults.
OFFICIAL_STYLES = ("candy", "mosaic", "rain_princess", "udnie")
OFFICIAL_ZIP_URL = "https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1"
OFFICIAL_SOURCE = "https://github.com/pytorch/examples/tree/main/fast_neural_style"
MAX_ZIP_BYTES = 200 * 2**20


def styles_dir() -> Path:
    """Where the official checkpoints are kept: ``<torch hub dir>/checkpoints/fast_neural_style``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / "fast_neural_style"


def official_style_path(name: str) -> Path:
    """Cache path of an official style (it may not exist yet)."""
    key = name.strip().lower().replace("-", "_")
    if key not in OFFICIAL_STYLES:
        raise ValueError(f"unknown style {name!r}; the official checkpoints are {', '.join(OFFICIAL_STYLES)}")
    return styles_dir() / f"{key}.pth"


def _styles_message(reason: str) -> str:
    return (f"the pretrained fast style-transfer networks are not available: {reason}.\n"
            f"  Fix: run `python -m helpers styles prefetch` while online, or download {OFFICIAL_ZIP_URL}\n"
            f"  (from {OFFICIAL_SOURCE}) and unzip its .pth files into {styles_dir()}")


def load_official_style(name: str, device=None) -> TransformerNet:
    """The official example's network for style ``name`` (``candy``, ``mosaic``, ``rain_princess``,
    ``udnie``), from the cache; raises :class:`DownloadError` with the fix when it is missing."""
    path = official_style_path(name)
    if not path.is_file():
        raise DownloadError(_styles_message(f"{path} does not exist"))
    net = load_transformer(path, value_range=255.0)
    return net.to(device) if device is not None else net


def prefetch_styles(url: str = OFFICIAL_ZIP_URL, timeout: float = 60.0) -> dict[str, Path]:
    """Download the official checkpoints' zip and unpack its ``<style>.pth`` files into :func:`styles_dir`."""
    target = styles_dir()
    target.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".saved_models-", suffix=".zip", dir=target)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "cnn-style-content-kit"})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    if copy_limited(response, out, MAX_ZIP_BYTES) is None:
                        raise DownloadError(_styles_message(f"{url} sent more than {MAX_ZIP_BYTES >> 20} MiB"))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise DownloadError(_styles_message(f"cannot download {url} ({exc})")) from exc
        found = {}
        try:
            with zipfile.ZipFile(tmp) as zf:
                for info in zf.infolist():
                    stem = Path(info.filename).stem.replace("-", "_").lower()
                    if info.filename.endswith(".pth") and stem in OFFICIAL_STYLES:
                        dest = target / f"{stem}.pth"
                        part = dest.with_suffix(".part")
                        with zf.open(info) as src, open(part, "wb") as dst:
                            dst.write(src.read())
                        load_transformer(part, value_range=255.0)   # refuse files that do not load
                        os.replace(part, dest)
                        found[stem] = dest
        except zipfile.BadZipFile as exc:
            raise DownloadError(_styles_message(f"{url} did not send a zip file ({exc})")) from exc
        if not found:
            raise DownloadError(_styles_message(f"{url} held none of {', '.join(OFFICIAL_STYLES)}"))
        return found
    finally:
        Path(tmp).unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """``python -m helpers styles {list, prefetch [--url URL]}``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m helpers styles",
                                     description="Pretrained fast style-transfer networks "
                                                 "(PyTorch's official example).")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="show the styles and whether each is cached")
    pre = sub.add_parser("prefetch", help="download and unpack the official checkpoints")
    pre.add_argument("--url", default=OFFICIAL_ZIP_URL, help="zip to fetch (default: the official one)")
    args = parser.parse_args(argv)
    if args.action == "list":
        for name in OFFICIAL_STYLES:
            path = official_style_path(name)
            print(f"{name:<14} {'cached ' if path.is_file() else 'missing'}  {path}")
        return 0
    try:
        for name, path in prefetch_styles(args.url).items():
            print(f"ok      {name}  {path}")
    except DownloadError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0
