"""``python -m helpers doctor``: what this machine offers the kit, in one screen.

It prints the device and run profile, the versions, the weights cache and what is in it, the
kit's cache folder, and every environment variable the kit reads (:data:`ENV_VARS`): the
value of each one that is set, then the names of those that are not.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import textwrap

#: Every environment variable the kit reads, with the module that reads it (``TORCH_HOME``
#: through torch's hub, which decides where the weights live). Kept as plain strings so that
#: this list costs no imports; ``tests/instructor/test_cli.py`` checks it against the ``helpers`` source.
ENV_VARS = {
    "KIT_DEVICE": "devices: force a device (cpu, cuda, cuda:1, mps)",
    "KIT_PROFILE": "devices: force a run profile (smoke, cpu, gpu)",
    "KIT_PRECISION": "devices: force the network precision (float32, bfloat16)",
    "NBGRADER_EXECUTION": "devices: set while nbgrader autogrades (forces cpu + smoke)",
    "KIT_CACHE_DIR": "cache: folder for paintings, the toy classifier, style checkpoints",
    "XDG_CACHE_HOME": "cache: holds cnn-kit/ when KIT_CACHE_DIR is not set",
    "KIT_DATA_DIR": "samples: folder of the bundled sample images",
    "KIT_ALLOW_RANDOM_WEIGHTS": "models: 1 = random weights instead of an error when weights are missing",
    "KIT_REQUIRE_WEIGHTS": "models: 1 = never fall back to random weights (overrides the one above)",
    "KIT_PROVENANCE_FILE": "provenance: append a JSON line per model load to this file",
    "KIT_WIDGETS": "widgets: 1 / 0 = treat the notebook front end as live / not live",
    "TORCH_HOME": "weights: torch's hub folder (weights in <TORCH_HOME>/hub/checkpoints)",
}


def report(verify: bool = False) -> list[str]:
    """Lines describing device, versions, profile, caches and cached weights."""
    import torch
    import torchvision

    from helpers import weights
    from helpers.devices import get_profile, pick_device

    lines = [f"python       {sys.version.split()[0]} ({sys.executable})",
             f"platform     {platform.platform()}",
             f"torch        {torch.__version__}   torchvision {torchvision.__version__}"]
    try:
        device = pick_device()
        profile = get_profile(device=device)
        lines.append(f"device       {device}" + _device_detail(torch, device))
        lines.append(f"profile      {profile.name}: {profile.image_size} px, {profile.iterations} iterations, "
                     f"{profile.precision} ({profile.description})")
    except (RuntimeError, ValueError) as exc:
        lines.append(f"device       ERROR: {exc}")
    lines.append(f"CPU threads  {torch.get_num_threads()}")
    lines.append(f"weights dir  {weights.checkpoints_dir()}")
    for name, state, _path in weights.status_rows(verify=verify):
        lines.append(f"  {name:<38} {state}")
    missing = [n for n, s, _ in weights.status_rows() if s == "missing"]
    if missing:
        lines.append(f"  → fetch the missing ones with: {weights.PREFETCH_COMMAND}")
    try:
        from helpers.samples import cache_dir
        lines.append(f"kit cache    {cache_dir()}")
    except ImportError:
        pass
    unset = []
    for var in ENV_VARS:
        if os.environ.get(var):
            lines.append(f"env          {var}={os.environ[var]}")
        else:
            unset.append(var)
    if unset:
        lines += textwrap.wrap(", ".join(unset), width=100, initial_indent="env unset    ",
                               subsequent_indent=" " * 13, break_on_hyphens=False)
    return lines


def _device_detail(torch, device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f" ({props.name}, {props.total_memory / 2**30:.1f} GiB, CUDA {torch.version.cuda})"
    return ""


def main(argv: list[str]) -> int:
    width = max(map(len, ENV_VARS)) + 2
    epilog = "environment variables the kit reads:\n" + "\n".join(
        f"  {name:<{width}}{meaning}" for name, meaning in ENV_VARS.items())
    parser = argparse.ArgumentParser(prog="python -m helpers doctor",
                                     description="Print device, versions, cache paths and which weights are cached.",
                                     epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verify", action="store_true", help="hash every cached weight file now")
    args = parser.parse_args(argv)
    for line in report(verify=args.verify):
        print(line)
    return 0
