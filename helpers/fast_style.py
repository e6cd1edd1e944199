"""Training and using feed-forward style-transfer networks (Johnson et al. 2016).

* :class:`~helpers.photos.PhotoStream` (in :mod:`helpers.photos`) — batches of random
  square crops (with random horizontal flips) from any folder of photos, or the kit's
  bundled photos;
* :class:`PerceptualLoss` — the loss network of Johnson et al.: VGG-16 features, content
  at ``relu2_2``, style at ``relu1_2, relu2_2, relu3_3, relu4_3``; the formulas are passed
  in (the notebook's ``normalized_gram``, ``feature_reconstruction_loss`` and
  ``style_reconstruction_loss``), so this module holds no exercise answers;
* :func:`~helpers.checkpoints.training_key` (in :mod:`helpers.checkpoints`, with the
  checkpoint files and digests) — a short hash of everything that changes training (loss
  weights, style image, the source of the loss functions, photos, sizes, steps, …), so that
  a cached checkpoint is reused only for the same training;
* :func:`train_transformer` — Adam on the transformation network with a progress bar,
  a live preview, a checkpoint every N steps, resume after an interruption (continuing
  exactly where it stopped: weights, optimiser moments, step and the random crops) and
  DistributedDataParallel when the network passed in is wrapped in it;
* the checkpoints published with PyTorch's official ``fast_neural_style`` example
  (:mod:`helpers.pretrained_styles`, ``python -m helpers download styles``), loaded by
  :func:`~helpers.pretrained_styles.load_official_style`.

The names notebook 08 uses from those modules (``PhotoStream``, ``training_key``,
``default_checkpoint``, ``source_digest``, ``OFFICIAL_STYLES``, ``load_official_style``,
and the timer ``time_forward`` from :mod:`helpers.devices`) are importable from here too.

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
import inspect
import time
import warnings
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from helpers import references as _references
from helpers.checkpoints import (
    check_same_run,
    default_checkpoint,
    loss_digest,
    read_checkpoint,
    save_checkpoint,
    source_digest,
    tensor_digest,
    training_key,
    unwrap,
)
from helpers.devices import time_forward
from helpers.optim import LoopTracker, StepState, TrainingResult, loss_values
from helpers.photos import PhotoStream
from helpers.pretrained_styles import OFFICIAL_STYLES, load_official_style

__all__ = [
    # defined here
    "CONTENT_LAYER", "STYLE_LAYERS", "TRAINING_VALUE_RANGE", "PerceptualLoss", "train_transformer",
    # used by notebook 08 from here: helpers.photos, helpers.checkpoints, helpers.pretrained_styles, helpers.devices
    "PhotoStream", "default_checkpoint", "source_digest", "training_key", "OFFICIAL_STYLES", "load_official_style",
    "time_forward",
]

Tensor = torch.Tensor

# Johnson et al. 2016, Sec. 4.1, and PyTorch's example (helpers.references, topic 08).
CONTENT_LAYER = _references.value("08", "content layer")
STYLE_LAYERS = tuple(_references.value("08", "style layers"))

#: Pixel range the transformation network is trained in: PyTorch's example's 0–255 (see above).
TRAINING_VALUE_RANGE = float(_references.value("08", "transformer pixel range"))


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
        check_same_run(self.ckpt, state.get("config", {}), self.config)
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
        net: a :class:`~helpers.transformer_net.TransformerNet`, or one wrapped in ``DistributedDataParallel`` (then
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


def _step_values(terms: Mapping[str, Tensor], total: Tensor, distributed: bool, world: int) -> dict[str, float]:
    """The step's terms and total as floats; under DDP averaged over the ranks (one all-reduce)."""
    if not distributed:
        return loss_values(terms, total, "total")
    import torch.distributed as dist

    stacked = torch.stack([t.detach().float().reshape(()) for t in [*terms.values(), total]])
    dist.all_reduce(stacked)
    return dict(zip([*terms, "total"], (stacked / world).cpu().tolist()))

