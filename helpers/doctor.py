"""``python -m helpers doctor``: what this machine offers the kit, in one screen."""
from __future__ import annotations

import argparse
import os
import platform
import sys

ENV_VARS = ("KIT_PROFILE", "KIT_DEVICE", "KIT_CACHE_DIR", "KIT_DATA_DIR", "KIT_ALLOW_RANDOM_WEIGHTS",
            "KIT_REQUIRE_WEIGHTS", "TORCH_HOME", "NBGRADER_EXECUTION")


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
        from helpers.images import cache_dir
        lines.append(f"kit cache    {cache_dir()}")
    except ImportError:
        pass
    for var in ENV_VARS:
        if os.environ.get(var):
            lines.append(f"env          {var}={os.environ[var]}")
    return lines


def _device_detail(torch, device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f" ({props.name}, {props.total_memory / 2**30:.1f} GiB, CUDA {torch.version.cuda})"
    return ""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers doctor",
                                     description="Print device, versions, cache paths and which weights are cached.")
    parser.add_argument("--verify", action="store_true", help="hash every cached weight file now")
    args = parser.parse_args(argv)
    for line in report(verify=args.verify):
        print(line)
    return 0
