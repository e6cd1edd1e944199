"""Pretrained weights through torchvision's weight enums, with checked caching.

Files live where torchvision puts them: ``<torch hub dir>/checkpoints/<file name of the
URL>`` (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``).
``torch.hub`` checks a file's SHA-256 only while downloading it; a cached file that was
truncated or corrupted later would otherwise fail deep inside ``torch.load``. Here every
cached file is checked against the hash prefix in its name (``vgg19-dcbb9e9d.pth``) and a
small ``.verified`` record beside it (size, modification time, digest) spares the check
on later loads until the file changes.

Command line (:mod:`helpers.prefetch`)::

    python -m helpers download weights [names…]   fill the cache (default: every model the notebooks use)
    python -m helpers download weights --list     show which weights are cached

(``python -m helpers weights prefetch [names…]`` and ``… weights list`` are aliases.)
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from torchvision.models import WeightsEnum, get_model_weights

from helpers.downloads import sha256_of
from helpers.errors import CorruptWeightsError, WeightsUnavailableError

# Architectures the notebooks use; `prefetch` without names fetches all of these.
ARCHITECTURES = ("alexnet", "vgg16", "vgg19", "googlenet", "squeezenet1_1")
# Extra, non-default weights worth prefetching: Caffe-ported VGG-16 for style transfer.
EXTRA_WEIGHTS = ("VGG16_Weights.IMAGENET1K_FEATURES",)

_HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")  # the same rule torch.hub uses
PREFETCH_COMMAND = "python -m helpers download weights"


def checkpoints_dir() -> Path:
    """Directory torchvision caches weight files in."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_path(weights: WeightsEnum) -> Path:
    """Where ``weights``' file lives (or would live) in the cache."""
    return checkpoints_dir() / os.path.basename(weights.url)


def expected_hash_prefix(path: str | Path) -> str | None:
    """The SHA-256 prefix encoded in a weight file's name, or None when the name has none."""
    match = _HASH_IN_NAME.search(Path(path).name)
    return match.group(1) if match and match.group(1) else None


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stat_key(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def is_verified(path: str | Path) -> bool:
    """True when a verification record matches the file's current size and mtime."""
    path = Path(path)
    try:
        record = json.loads(_record_path(path).read_text())
        return record.get("stat") == _stat_key(path)
    except (OSError, ValueError):
        return False


def verify_file(path: str | Path) -> Path:
    """Check a cached weight file against the hash prefix in its name, once per file version.

    Raises :class:`CorruptWeightsError` naming the file to delete when it does not match.
    """
    path = Path(path)
    prefix = expected_hash_prefix(path)
    if prefix is None or is_verified(path):
        return path
    digest = sha256_of(path)
    if not digest.startswith(prefix):
        raise CorruptWeightsError(
            f"cached weight file {path} is corrupt or incomplete: its SHA-256 starts with "
            f"{digest[:len(prefix)]}, but its name says {prefix}. Delete it "
            f"(rm '{path}') and run `{PREFETCH_COMMAND}` again, or copy a good copy of the file there."
        )
    try:
        _record_path(path).write_text(json.dumps({"stat": _stat_key(path), "sha256": digest}))
    except OSError:
        pass  # a read-only cache still works; it is just checked again next time
    return path


def resolve(architecture: str, spec: str | WeightsEnum) -> WeightsEnum:
    """Turn ``"imagenet"``, ``"caffe"``, ``"IMAGENET1K_V1"``, ``"VGG16_Weights.IMAGENET1K_FEATURES"``
    or an enum member into the torchvision weight enum of ``architecture``."""
    enum_cls = get_model_weights(architecture)
    if isinstance(spec, WeightsEnum):
        if not isinstance(spec, enum_cls):
            raise ValueError(f"{spec} are not weights for {architecture}; use one of {_members(enum_cls)}")
        return spec
    key = str(spec).strip()
    if key.lower() == "imagenet":
        return enum_cls.DEFAULT
    if key.lower() == "caffe":
        if architecture != "vgg16":
            raise ValueError(
                f"Caffe-ported weights exist in torchvision only for vgg16 "
                f"(VGG16_Weights.IMAGENET1K_FEATURES), not for {architecture}."
            )
        return enum_cls["IMAGENET1K_FEATURES"]
    member = key.split(".", 1)[1] if key.startswith(enum_cls.__name__ + ".") else key
    if member in enum_cls.__members__:
        return enum_cls[member]
    raise ValueError(
        f"unknown weights {spec!r} for {architecture}; use 'imagenet', 'random', a file path"
        f"{', caffe' if architecture == 'vgg16' else ''} or one of {_members(enum_cls)}"
    )


def _members(enum_cls) -> str:
    return ", ".join(f"{enum_cls.__name__}.{m}" for m in enum_cls.__members__)


def ensure_cached(weights: WeightsEnum, download: bool = True, progress: bool = True) -> Path:
    """Return the verified cached file of ``weights``, downloading it if allowed and missing.

    Raises :class:`WeightsUnavailableError` (with the prefetch command and the exact
    file path that would satisfy it) or :class:`CorruptWeightsError`.
    """
    path = cached_path(weights)
    if path.is_file():
        return verify_file(path)
    if download:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(weights.url, str(path),
                                           hash_prefix=expected_hash_prefix(path), progress=progress)
            return verify_file(path)
        except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
            reason = f"download failed: {exc}"
    else:
        reason = "downloads are switched off"
    raise WeightsUnavailableError(
        f"pretrained weights {weights} are not cached and {reason}.\n"
        f"Fix: on a machine with network run `{PREFETCH_COMMAND} {_arch_of(weights)}`, "
        f"or copy the file {os.path.basename(weights.url)} (from {weights.url}) to {path}.\n"
        f"Offline work without them: weights='random' (the figures are then marked as random)."
    )


def _arch_of(weights: WeightsEnum) -> str:
    return type(weights).__name__.split("_Weights")[0].lower()


def load_state_dict(path: str | Path) -> dict:
    """``torch.load`` a weight file safely (tensors only), with errors that name the file."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every unpickling failure means the same thing here
        raise CorruptWeightsError(
            f"could not read weight file {path} ({type(exc).__name__}: {exc}). "
            f"If it is a cached download, delete it and run `{PREFETCH_COMMAND}` again."
        ) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CorruptWeightsError(f"weight file {path} holds a {type(state).__name__}, not a state dict")
    return state


def all_default_weights() -> list[WeightsEnum]:
    """The weights ``prefetch`` fetches without arguments."""
    out = [resolve(a, "imagenet") for a in ARCHITECTURES]
    out += [resolve(spec.split("_Weights")[0].lower(), spec) for spec in EXTRA_WEIGHTS]
    return out


def parse_names(names: list[str]) -> list[WeightsEnum]:
    """Weight enums for command-line names: architectures, ``vgg16-caffe``, enum names; none or ``all``: the defaults.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    if not names or names == ["all"]:
        return all_default_weights()
    out = []
    for name in names:
        if "_Weights." in name:
            out.append(resolve(name.split("_Weights")[0].lower(), name))
        elif name in ARCHITECTURES:
            out.append(resolve(name, "imagenet"))
        elif name == "vgg16-caffe":
            out.append(resolve("vgg16", "caffe"))
        else:
            raise ValueError(
                f"unknown name {name!r}; use one of {', '.join(ARCHITECTURES)}, vgg16-caffe, "
                "'all', or an enum such as VGG16_Weights.IMAGENET1K_FEATURES"
            )
    return out


def status_rows(verify: bool = False) -> list[tuple[str, str, str]]:
    """(weights, state, path) for every weight file the kit knows; state is
    ``missing``, ``cached, verified``, ``cached, not yet verified`` or ``CORRUPT: …``."""
    rows = []
    for w in all_default_weights():
        path = cached_path(w)
        if not path.is_file():
            state = "missing"
        elif verify or is_verified(path):
            try:
                verify_file(path)
                state = "cached, verified"
            except CorruptWeightsError:
                state = "CORRUPT: delete it and prefetch again"
        else:
            state = "cached, not yet verified"
        rows.append((str(w), state, str(path)))
    return rows

