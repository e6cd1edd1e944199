"""Training checkpoints of style networks and the digests that name them.

* :func:`save_checkpoint` / :func:`read_checkpoint` — a resumable training state (network,
  Adam moments, step, every rank's crop generator, loss history, settings), written
  atomically;
* :func:`tensor_digest`, :func:`source_digest`, :func:`loss_digest` — short SHA-256 digests
  of a tensor's values, a function's source, a loss's fingerprint;
* :func:`training_key` — a digest of everything that changes a training, to name its
  checkpoint (:func:`default_checkpoint`) so that a cached network is reused only for the
  same training.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import torch
from torch import nn

from helpers.cache import kit_cache_dir
from helpers.errors import KitError

if TYPE_CHECKING:
    from helpers.photos import PhotoStream

Tensor = torch.Tensor

CHECKPOINT_FORMAT = "kit-transformer-checkpoint/1"


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



def loss_digest(loss_fn: Callable) -> str:
    """16 hex digits that change when the loss changes: its fingerprint or its source (see :func:`training_key`)."""
    return _digest(loss_fn.fingerprint()) if hasattr(loss_fn, "fingerprint") else source_digest(loss_fn)


def check_same_run(path: Path, saved: Mapping, now: Mapping) -> None:
    """Refuse to resume a checkpoint written with other training settings (it would not continue the same run).

    Args:
        path: the checkpoint, named in the error.
        saved: the settings stored in it (``state["config"]``).
        now: the settings of the training about to resume it.

    Raises:
        KitError: batch size, learning rate, crop, pixel range or loss differ.
    """
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
    """A 16-hex-digit key of everything that changes what :func:`helpers.fast_style.train_transformer` produces.

    The loss's :meth:`helpers.fast_style.PerceptualLoss.fingerprint` (weights, layers, loss network, style
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

