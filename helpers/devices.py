"""Devices, run profiles, seeding, and timing a forward pass (:func:`time_forward`).

A *profile* bundles the knobs that decide how long a notebook takes: image size
(pixels, longest side), iteration count and numeric precision. Notebooks read the
profile name from their papermill ``parameters`` cell; ``None`` there means "pick
one that suits the device".

Environment variables (all optional):

``KIT_DEVICE``   force a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
``KIT_PROFILE``  force a profile (``smoke``, ``cpu``, ``gpu``).
``KIT_PRECISION``  force the network precision (``float32`` or ``bfloat16``).
``NBGRADER_EXECUTION``  set by nbgrader while autograding: forces ``cpu`` + ``smoke``.

CPU threads, one rule: the kit leaves torch's intra-op thread count at its default (one
per core) and no notebook changes it. On a quiet 2-core machine every step the notebooks
take runs faster on all cores than on one (``python bench/threads.py``, BENCHMARKS.md:
×1.2 for the toy network at 32 px up to ×1.9 for VGG-19 at 256 px), and a laptop with more
cores gains more. Only processes that run side by side split the cores: grading workers
(``instructor.grading``) and test workers (``tests/conftest.py``) give each process
``cores ÷ processes`` threads (``OMP_NUM_THREADS``). :func:`cpu_threads` is for code that
must be reproducible across machines (float sums depend on the thread count).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import random
import time
from dataclasses import dataclass, replace
from typing import Callable

import torch

PROFILE_ENV = "KIT_PROFILE"
DEVICE_ENV = "KIT_DEVICE"
PRECISION_ENV = "KIT_PRECISION"
PRECISIONS = ("float32", "bfloat16")


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX), where
    bfloat16 autocast makes convolutions faster; elsewhere it emulates them and is slower.
    Read from ``/proc/cpuinfo``; False where that file does not exist (macOS, Windows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def grading_mode() -> bool:
    """True while nbgrader executes a notebook (autograde, validate)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the best available device: ``cuda``, then ``mps``, then ``cpu``.

    ``prefer`` (or ``$KIT_DEVICE``) overrides the choice; grading mode always
    returns ``cpu`` so marks never depend on the grader's hardware.
    """
    if grading_mode():
        return torch.device("cpu")
    choice = prefer if prefer is not None else os.environ.get(DEVICE_ENV) or None
    if choice is not None:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"device {str(device)!r} was asked for, but CUDA is not available on this "
                "machine. Use device='cpu', or unset KIT_DEVICE to pick automatically."
            )
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(
                "device 'mps' was asked for, but Metal is not available here. "
                "Use device='cpu', or unset KIT_DEVICE to pick automatically."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


@dataclass(frozen=True)
class Profile:
    """How big and how long a notebook's heavy work is.

    Attributes:
        name: ``smoke``, ``cpu`` or ``gpu``.
        image_size: working image size in pixels (longest side).
        iterations: optimisation steps for one image-optimisation run.
        precision: ``float32`` or ``bfloat16``; used through :meth:`autocast`
            for network forward passes only (losses and Gram matrices stay float32).
        device: the device the profile runs on.
        description: one line for logs and the demo gallery.
    """

    name: str
    image_size: int
    iterations: int
    precision: str
    device: torch.device
    description: str

    @property
    def dtype(self) -> torch.dtype:
        return getattr(torch, self.precision)

    def autocast(self):
        """Context manager running forward passes in the profile's precision."""
        if self.precision == "float32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def scaled(self, fraction: float, minimum: int = 1) -> int:
        """``iterations * fraction``, at least ``minimum``: for loops shorter than the main one."""
        return max(minimum, int(round(self.iterations * fraction)))

    def with_(self, **changes) -> "Profile":
        """A copy with some fields changed, e.g. ``profile.with_(image_size=128)``."""
        return replace(self, **changes)


# Sizes and iteration counts: `smoke` keeps every notebook to seconds on a CI CPU;
# `cpu` keeps each notebook to a few minutes on a laptop; `gpu` is lecture quality
# (512 px and 500 iterations as in common Gatys/Johnson implementations).
# Precision: `cpu` on a CPU with native bfloat16 switches to bfloat16 in get_profile, for
# feed-forward networks (BENCHMARKS.md §3: 1.9× per image at 256 px); image optimisation stays
# float32 at full size (§1: its late steps are below bfloat16's rounding; only the half-size stage
# of optim.coarse_to_fine may use bfloat16); `smoke` stays float32
# so marks never depend on the grader's CPU.
_PROFILE_TABLE = {
    "smoke": dict(image_size=64, iterations=10, precision="float32",
                  description="CI / grading: tiny images, a handful of steps"),
    "cpu": dict(image_size=224, iterations=150, precision="float32",
                description="laptop CPU: a few minutes per notebook"),
    "gpu": dict(image_size=512, iterations=500, precision="float32",
                description="GPU: lecture-quality figures"),
}

PROFILE_NAMES = tuple(_PROFILE_TABLE)


def get_profile(name: str | None = None, device: str | torch.device | None = None) -> Profile:
    """Return a :class:`Profile` by name, from ``$KIT_PROFILE``, or chosen for the device.

    Grading mode (``NBGRADER_EXECUTION``) always gives ``smoke`` on ``cpu``.
    """
    dev = pick_device(device)
    if grading_mode():
        name = "smoke"
    elif name is None:
        name = os.environ.get(PROFILE_ENV) or ("gpu" if dev.type == "cuda" else "cpu")
    key = str(name).strip().lower()
    if key not in _PROFILE_TABLE:
        raise ValueError(
            f"unknown profile {name!r}; expected one of {', '.join(PROFILE_NAMES)} "
            f"(set it in the notebook's parameters cell or with ${PROFILE_ENV})."
        )
    fields = dict(_PROFILE_TABLE[key])
    if key == "cpu" and dev.type == "cpu" and cpu_has_native_bf16():
        fields["precision"] = "bfloat16"
    forced = os.environ.get(PRECISION_ENV)
    if forced and key != "smoke":
        if forced not in PRECISIONS:
            raise ValueError(f"${PRECISION_ENV}={forced!r}; expected one of {', '.join(PRECISIONS)}")
        fields["precision"] = forced
    return Profile(name=key, device=dev, **fields)


def autocast_factory(autocast):
    """``autocast`` as a factory of a context manager, or None for float32.

    Accepts ``None``, a :class:`Profile` (its :meth:`Profile.autocast`) or a factory such as
    ``lambda: torch.autocast("cpu", dtype=torch.bfloat16)``.
    """
    if autocast is None:
        return None
    if callable(getattr(autocast, "autocast", None)):
        return autocast.autocast
    if not callable(autocast):
        raise TypeError(f"autocast must be a devices.Profile, a factory of a context manager or None; got {autocast!r}")
    return autocast


_NETWORK_AUTOCAST: contextvars.ContextVar = contextvars.ContextVar("network_autocast", default=None)


@contextlib.contextmanager
def network_precision(autocast):
    """Run the kit's feature extractors in lower precision inside this block.

    Within the block, every :class:`~helpers.models.FeatureExtractor` built without an
    ``autocast`` of its own runs its network under ``autocast`` (anything
    :func:`autocast_factory` takes, or ``None`` for float32) and returns float32 features,
    so Gram matrices and losses computed from them stay float32. This is how
    :func:`helpers.optim.optimize_image` runs a stage in bfloat16 (its ``autocast``).
    Features computed inside the block for later use (targets cached on a first call) are
    lower precision too: compute targets outside it.
    """
    token = _NETWORK_AUTOCAST.set(autocast_factory(autocast))
    try:
        yield
    finally:
        _NETWORK_AUTOCAST.reset(token)


def network_autocast():
    """The factory set by the innermost :func:`network_precision` block, or ``None``."""
    return _NETWORK_AUTOCAST.get()


def bfloat16_is_fast(device: torch.device | str) -> bool:
    """True where bfloat16 autocast speeds convolutions up: CUDA with bfloat16 support, or a
    CPU with native bfloat16 (:func:`cpu_has_native_bf16`); elsewhere it is emulated."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_native_bf16()


def seed_everything(seed: int = 0, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy (if present) and torch (all devices); return a seeded CPU generator.

    ``deterministic=True`` also asks torch for deterministic kernels (slower on GPU).
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy ships with torch installs
        pass
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def threads_per_process(processes: int) -> int | None:
    """Torch threads for each of ``processes`` processes that run side by side on this machine.

    ``None`` (torch's default, one per core) for a single process; otherwise the cores shared
    out, ``cores // processes``, at least 1 — so the processes never run more threads than
    there are cores (see the module's thread rule).
    """
    if processes <= 1:
        return None
    return max(1, (os.cpu_count() or 1) // processes)


@contextlib.contextmanager
def cpu_threads(threads: int | None):
    """Run the block with ``threads`` CPU threads for torch, then restore the previous count.

    For results that must not depend on the machine (float sums depend on the thread
    count), not for speed: see the module's thread rule. ``None`` leaves the setting alone.
    """
    old = torch.get_num_threads()
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def time_forward(fn: Callable[[], object], repeats: int = 3, warmup: int = 1, device=None) -> float:
    """Median wall time in seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs (CUDA synchronised).

    Args:
        fn: the work to time, called with no arguments (e.g. one forward pass).
        repeats: timed runs; the median is returned.
        warmup: untimed runs first (kernel selection, caches).
        device: on a CUDA device the GPU is synchronised before each clock reading, so
            queued kernels are counted; ``None`` or another device: no synchronisation.

    Returns:
        The median time of one run, in seconds.
    """
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

